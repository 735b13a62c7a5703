// Ring attention (Liu, Zaharia, Abbeel 2023, "Ring Attention with Blockwise Transformers for
// Near-Infinite Context"; Megatron-Core cp_comm_type="p2p"): every rank keeps its Q block while
// the K/V blocks rotate one hop per step; partial outputs merge with the online softmax.
// The same ring drives zigzag.ts and striped.ts, which only change the token layout.

import type { Params, StrategyId } from '../params.ts';
import type { Schedule } from '../schedule.ts';
import { layoutFor, type LayoutKind } from '../layout.ts';
import { ctxOf, finish, fmtTokens, hybridDrafts, implReason, invalid, lossDrafts, nodeByPreset, ringExtras, ringVariantOf, who } from './common.ts';

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
  const notRun = implReason(ctx);
  if (notRun) return invalid(ctx, notRun);
  const variant = ringVariantOf(ctx);
  const shards = layoutFor(kind, ctx.seq, P);
  const ringText = (t: number, phase: 'forward' | 'backward'): string => {
    if (P === 1)
      return phase === 'forward'
        ? `one rank computes causal attention of all ${ctx.seq} tokens against themselves; nothing to communicate.`
        : `one rank computes dQ, dK and dV for all ${ctx.seq} tokens; nothing to communicate.`;
    const own = `its own K/V block (the diagonal block, causal mask; rank 0 holds tokens ${fmtTokens(shards[0] ?? [])})`;
    const gathered = variant.forwardKv === 'all-gather';
    const src = t === 0 ? own : gathered ? `the K/V block of rank (r−${t}) mod ${P}, from the all-gathered buffer` : `the K/V block that started on rank (r−${t}) mod ${P}, received in the previous step`;
    const note = t === 0 ? '' : balanceNote(kind, t, P);
    const fp32 = variant.dkvFp32 && ctx.dtype !== 'fp32' ? ' in fp32' : '';
    if (phase === 'forward') {
      const send =
        t === P - 1
          ? '; this is the last block, so each rank divides its output by the softmax sum and the ring is done'
          : gathered
            ? t === 0
              ? ` while all ${P} ranks all-gather K and V (PyTorch's default all-gather rotater gathers once instead of rotating)`
              : ''
            : ` while sending that K,V block to rank r+1 (and receiving the next from r−1)${variant.forwardKvRetained ? '; Transformer Engine keeps every received block until the forward ends' : ''}`;
      const merge = t === 0 ? '' : ', merging the partial result with the online softmax (running max and sum)';
      return `each rank r attends its queries to ${src}${merge}${send}.${note}`;
    }
    if (variant.backwardKv === 'reverse') {
      // Rank r holds block r+1+t (Transformer Engine's reversed backward ring).
      const block = t === P - 1 ? 'its own K/V block (the diagonal block)' : t === 0 ? `the K/V block of rank (r+1) mod ${P}, the last block of the forward pass, which was saved` : `the K/V block of rank (r+${t + 1}) mod ${P}, received from rank r+1`;
      const send =
        (t < P - 1 ? ' The K,V block moves on to rank r−1 (the ring runs backwards)' : ' No K,V send') +
        (t >= 1 ? `, together with the dK,dV partial sums of the previous block (in the training dtype)${t === P - 1 ? '; this last hop lands each sum on its owner, so no hop home is needed' : ''}.` : '.');
      return `backward: each rank r recomputes its scores against ${block}, adds to its own dQ and to this block's dK,dV.${send}`;
    }
    const kvMove = gathered ? (t === 0 ? ` K and V are all-gathered again (only the local block was saved).` : '') : t < P - 1 ? ' The K,V block moves on to rank r+1' : ' No K,V send: every block has visited every rank';
    const dkv = t >= 1 ? `${gathered ? ' The' : ', and the'} dK,dV partial sums of the previous block follow one hop behind${fp32}${gathered ? ' (an all-to-all with one destination)' : ''}.` : gathered ? '' : '.';
    return `backward: each rank r recomputes its scores against ${src}, adds to its own dQ and to this block's dK,dV.${kvMove}${dkv}${note}`;
  };
  const { forward, backward } = hybridDrafts(ctx, {
    U: 1,
    R: P,
    groupSets: shards,
    shards,
    ringText,
    a2aText: { qkv: '', o: '', dO: '', grads: '' },
    homeText: `backward: each block's dK,dV, now summed over all ${P} ranks, take one last hop to the block's home rank (rank r sends to r+1, which owns it)${variant.dkvFp32 && ctx.dtype !== 'fp32' ? ', still in fp32, and are cast to the training dtype there' : ''}.`,
  });
  const permuted = kind === 'contiguous' ? null : kind;
  return finish(ctx, shards, nodeByPreset(ctx), [...forward, ...lossDrafts(ctx, permuted), ...backward], ringExtras(ctx, { U: 1, R: P, groupSets: shards }));
}

export function buildRing(params: Params): Schedule {
  return buildRingFamily('ring', 'contiguous', params);
}
