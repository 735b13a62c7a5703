// All-gather K/V context parallelism (Llama 3 paper, "The Llama 3 Herd of Models", 2024, §3.3.2;
// Megatron-Core cp_comm_type="all_gather", implemented by Transformer Engine's
// AttnFuncWithCPAndKVAllGather). Zigzag layout for causal balance; all-gather K and V, attend
// local Q to the whole sequence, and in backward all-gather K,V again (only the local K,V are
// saved, as Transformer Engine does, so full K/V never stay resident across layers) and
// reduce-scatter dK, dV to their owners.

import type { Params } from '../params.ts';
import type { Collective, Schedule, TokenSet, Transfer } from '../schedule.ts';
import { chunk, nonEmpty, zigzagLayout } from '../layout.ts';
import { allHeads, collective, ctxOf, finish, fitted, implReason, invalid, lossDrafts, nodeByPreset, putXfer, range, rankCompute, transferList, type Ctx, type Draft, draft } from './common.ts';

/** Every rank's K and V shard to every other rank (the same transfers in the forward and the backward gather). */
function gatherKVTransfers(ctx: Ctx, shards: readonly TokenSet[]): Transfer[] {
  const transfers = transferList(2 * ctx.P * ctx.P);
  let n = 0;
  const heads = allHeads(ctx.kvHeads);
  for (const t of ['K', 'V'] as const)
    for (let src = 0; src < ctx.P; src++) {
      const tokens = shards[src] ?? [];
      for (let dst = 0; dst < ctx.P; dst++) n = putXfer(transfers, n, ctx, src, dst, t, tokens, heads);
    }
  return fitted(transfers, n);
}

export function buildAllgather(params: Params): Schedule {
  const ctx = ctxOf('allgather', params);
  const { P, seq } = ctx;
  const notRun = implReason(ctx);
  if (notRun) return invalid(ctx, notRun);
  const shards = zigzagLayout(seq, P);
  // The gathered K/V, reordered into sequence order (2P chunks), as Transformer Engine does.
  const full: TokenSet = nonEmpty(range(2 * P).map((c) => chunk(seq, 2 * P, c)));
  const compute = range(P).map((r) => rankCompute(r, shards[r] ?? [], full, allHeads(ctx.heads)));
  const forward: Draft[] = [];
  const backward: Draft[] = [];
  if (P === 1) {
    forward.push(draft('forward', `one rank computes causal attention of all ${seq} tokens against themselves; nothing to gather.`, [], compute));
    backward.push(draft('backward', `one rank computes dQ, dK and dV for all ${seq} tokens; nothing to reduce.`, [], compute));
  } else {
    // P·(P−1) transfers per tensor; the backward's gather repeats the forward's, so they share the list.
    const kvGather = gatherKVTransfers(ctx, shards);
    const gatherKV = (label: string): Collective => collective('all-gather', range(P), label, kvGather);
    forward.push(
      draft(
        'forward',
        `all-gather K and V over all ${P} ranks: every rank sends its two zigzag chunks (r and ${2 * P - 1}−r) of K and V to every other rank, so each ends with the K/V of the whole ${seq}-token sequence. Attention waits for it: this communication is exposed.`,
        [gatherKV('all-gather K,V')],
        [],
      ),
    );
    forward.push(
      draft(
        'forward',
        `each rank attends its local queries (zigzag chunks r and ${2 * P - 1}−r) to the full gathered K/V with the global causal mask; its head chunk sees few keys and its tail chunk many, so every rank does the same work.`,
        [],
        compute,
      ),
    );
    backward.push(
      draft(
        'backward',
        `backward: all-gather K and V again over all ${P} ranks (only the local chunks were saved in the forward pass, to keep full K/V out of activation memory).`,
        [gatherKV('all-gather K,V (again, for backward)')],
        [],
      ),
    );
    backward.push(
      draft(
        'backward',
        `backward: each rank computes dQ for its own queries and partial dK, dV for every key of the sequence from its queries' share of the causal triangle.`,
        [],
        compute,
      ),
    );
    let transfers = transferList(2 * P * P);
    let n = 0;
    const kvHeads = allHeads(ctx.kvHeads);
    for (const t of ['dK', 'dV'] as const)
      for (let src = 0; src < P; src++) for (let dst = 0; dst < P; dst++) n = putXfer(transfers, n, ctx, src, dst, t, shards[dst] ?? [], kvHeads);
    transfers = fitted(transfers, n);
    backward.push(
      draft(
        'backward',
        `backward: reduce-scatter dK and dV over all ${P} ranks: each rank sends its partial dK, dV of rank j's chunks to rank j, which sums the ${P} contributions for the keys it owns.`,
        [collective('reduce-scatter', range(P), 'reduce-scatter dK,dV', transfers)],
        [],
      ),
    );
  }
  return finish(ctx, shards, nodeByPreset(ctx), [...forward, ...lossDrafts(ctx, 'zigzag'), ...backward]);
}
