// Ring attention (Liu, Zaharia, Abbeel 2023, "Ring Attention with Blockwise Transformers for
// Near-Infinite Context"; Megatron-Core cp_comm_type="p2p"): every rank keeps its Q block while
// the K/V blocks rotate one hop per step; partial outputs merge with the online softmax.
// The same ring drives zigzag.ts and striped.ts, which only change the token layout.

import type { Params, StrategyId } from '../params.ts';
import type { Schedule } from '../schedule.ts';
import { layoutFor, type LayoutKind } from '../layout.ts';
import { ctxOf, finish, fmtTokens, hybridDrafts, lossDrafts, nodeByPreset, who } from './common.ts';

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);


/** What a rank's block looks like at ring step t ≥ 1, per layout (t is 0-based). */
function balanceNote(kind: LayoutKind, t: number, P: number): string {
  switch (kind) {
    case 'contiguous':
      return ` ${cap(who(0, t - 1, 'hold', 'holds'))} a block from later in the sequence and skip${t - 1 === 0 ? 's' : ''} it (fully masked) while ${who(t, P - 1, 'compute', 'computes')} a full unmasked block: the causal imbalance of contiguous shards.`;
    case 'zigzag':
      return ` ${cap(who(t, P - 1, 'attend', 'attends'))} all queries to only the block's head chunk (earlier than both own chunks), ${who(0, t - 1, 'attend', 'attends')} only the tail chunk of queries to the whole block: the same half block of work on every rank.`;
    case 'striped':
      return ` ${cap(who(t, P - 1, 'hold', 'holds'))} a stripe from a lower rank (mask k ≤ q, diagonal included), ${who(0, t - 1, 'hold', 'holds')} one from a higher rank (mask k < q): about half of every block is masked on every rank.`;
  }
}

export function buildRingFamily(strategy: StrategyId, kind: LayoutKind, params: Params): Schedule {
  const ctx = ctxOf(strategy, params);
  const { P } = ctx;
  const shards = layoutFor(kind, ctx.seq, P);
  const ringText = (t: number, phase: 'forward' | 'backward'): string => {
    if (P === 1)
      return phase === 'forward'
        ? `one rank computes causal attention of all ${ctx.seq} tokens against themselves; nothing to communicate.`
        : `one rank computes dQ, dK and dV for all ${ctx.seq} tokens; nothing to communicate.`;
    const src = t === 0 ? `its own K/V block (the diagonal block, causal mask; rank 0 holds tokens ${fmtTokens(shards[0] ?? [])})` : `the K/V block that started on rank (r−${t}) mod ${P}, received in the previous step`;
    const note = t === 0 ? '' : balanceNote(kind, t, P);
    if (phase === 'forward') {
      const send = t < P - 1 ? ` while sending that K,V block to rank r+1 (and receiving the next from r−1)` : '; this is the last block, so each rank divides its output by the softmax sum and the ring is done';
      const merge = t === 0 ? '' : ', merging the partial result with the online softmax (running max and sum)';
      return `each rank r attends its queries to ${src}${merge}${send}.${note}`;
    }
    const send =
      (t < P - 1 ? ' The K,V block moves on to rank r+1' : ' No K,V send: every block has visited every rank') +
      (t >= 1 ? ', and the dK,dV partial sums of the previous block follow one hop behind.' : '.');
    return `backward: each rank r recomputes its scores against ${src}, adds to its own dQ and to this block's dK,dV.${send}${note}`;
  };
  const { forward, backward } = hybridDrafts(ctx, {
    U: 1,
    R: P,
    groupSets: shards,
    shards,
    ringText,
    a2aText: { qkv: '', o: '', dO: '', grads: '' },
    homeText: `backward: each block's dK,dV, now summed over all ${P} ranks, take one last hop to the block's home rank (rank r sends to r+1, which owns it).`,
  });
  const permuted = kind === 'contiguous' ? null : kind;
  return finish(ctx, shards, nodeByPreset(ctx), [...forward, ...lossDrafts(ctx, permuted), ...backward]);
}

export function buildRing(params: Params): Schedule {
  return buildRingFamily('ring', 'contiguous', params);
}
