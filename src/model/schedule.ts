// The Schedule: what every rank holds, computes and sends at each step of one layer's
// attention (forward and backward) plus the loss. It is the single description that the GPU
// runner executes, the scene animates, and the cost model prices.
//
// Granularity is the block, never the token: a rank's tokens are a TokenSet of at most a few
// strided segments, so a schedule for 10M tokens is as small as one for 1K.

import type { Dtype, ImplId, Params, StrategyId } from './params.ts';

/**
 * Tokens {start + i·stride : 0 ≤ i < count}, by global position in the sequence.
 * Contiguous shards and zigzag chunks have stride 1; striped shards have stride P.
 */
export interface Segment {
  readonly start: number;
  readonly count: number;
  readonly stride: number;
}

/** The tokens of one buffer, in the order the buffer stores them (segment after segment). */
export type TokenSet = readonly Segment[];

/** Heads [start, end). */
export interface HeadRange {
  readonly start: number;
  readonly end: number;
}

export type TensorKind = 'X' | 'Q' | 'K' | 'V' | 'O' | 'dO' | 'dQ' | 'dK' | 'dV' | 'loss';

export type CollectiveKind = 'all-gather' | 'reduce-scatter' | 'all-to-all' | 'send-recv' | 'all-reduce';

export interface Transfer {
  readonly src: number;
  readonly dst: number;
  readonly tensor: TensorKind;
  readonly tokens: TokenSet;
  readonly heads: HeadRange;
  /** Bytes on the wire for this transfer at the modelled size (elements × dtype bytes × micro-batch). */
  readonly bytes: number;
  /** Element type on the wire when it differs from Params.dtype (fp32 dK/dV partial sums). */
  readonly dtype?: Dtype;
}

export interface Collective {
  readonly kind: CollectiveKind;
  /** Ranks taking part. */
  readonly group: readonly number[];
  readonly transfers: readonly Transfer[];
  /** Short label for captions, e.g. "all-gather K,V". */
  readonly label: string;
  /**
   * Issued asynchronously and overlapped with the same step's compute. When absent: true for
   * send-recv (ring hops), false for the rest (their data is needed before or produced after the
   * compute; see timeline.ts overlapsCompute).
   */
  readonly overlapsCompute?: boolean;
}

/**
 * How a Q×KV tile is masked, by global token position:
 * - 'full': every key precedes every query, no mask needed;
 * - 'causal': apply k ≤ q per pair (diagonal tiles, striped tiles);
 * - 'skipped': every key follows every query, so the tile is not computed.
 */
export type MaskKind = 'full' | 'causal' | 'skipped';

export interface ComputeTile {
  readonly q: Segment;
  readonly kv: Segment;
  readonly mask: MaskKind;
  /** Exact number of (q, k) pairs with k ≤ q in this tile, per head. */
  readonly pairs: number;
}

/**
 * One rank's compute in one step: its local queries against the K/V it holds in that step.
 * The GPU runs this as ONE dispatch: q × kv under the global causal mask.
 */
export interface RankCompute {
  readonly rank: number;
  /** Query tokens the rank holds, in buffer order. */
  readonly q: TokenSet;
  /** Key/value tokens the rank attends to in this step, in buffer order. */
  readonly kv: TokenSet;
  /** Query heads computed (K/V head of query head h is floor(h·kvHeads/heads)). */
  readonly heads: HeadRange;
  /** The q×kv tiles (segment pairs), including skipped ones, for the work matrix and costs. */
  readonly tiles: readonly ComputeTile[];
}

export type Phase = 'forward' | 'loss' | 'backward';

export interface Step {
  readonly index: number;
  readonly phase: Phase;
  /** One-line narration, e.g. "Step 3 of 8: each rank sends its K/V block to the next rank…". */
  readonly caption: string;
  /**
   * One line to read aloud on a slide, e.g. "Send K,V to next rank · each rank attends to the K/V it holds".
   * Every strategy sets it (strategies/common.ts finish()); hand-built steps may leave it out.
   */
  readonly short?: string;
  /** Collectives in flight during this step (overlapping the compute, where the strategy allows). */
  readonly collectives: readonly Collective[];
  /** Attention compute per rank (forward: scores and output; backward: dQ, dK, dV). */
  readonly compute: readonly RankCompute[];
}

/** What a rank holds as its shard of the sequence (for every token-wise tensor: X, Q, K, V, O, labels). */
export interface RankShard {
  readonly rank: number;
  readonly tokens: TokenSet;
  /** Node index (for grouping in the scene; a node holds gpusPerNode ranks, hybrid groups by Ulysses group). */
  readonly node: number;
}

export interface LossStep {
  /** Per rank, the token positions whose labels it scores: labels are shifted before sharding, so
   * rank r's token i predicts token i+1 even when i+1 lives on another rank. The last token has no label. */
  readonly labelled: readonly TokenSet[];
}

/** K/V of `tokens` (K/V heads `heads`) a rank keeps from the forward into the backward besides its own shard. */
export interface SavedKv {
  readonly rank: number;
  readonly tokens: TokenSet;
  readonly heads: HeadRange;
}

export interface ValidSchedule {
  readonly valid: true;
  readonly strategy: StrategyId;
  /** The implementation profile the schedule follows (strategies/impl.ts). */
  readonly impl?: ImplId;
  /**
   * K/V blocks received in the forward that stay saved for the backward (Transformer Engine's p2p
   * saves the last block it received and starts its reversed backward ring from it).
   */
  readonly savedKv?: readonly SavedKv[];
  /**
   * Phases in which every K/V block a rank receives stays allocated until the phase ends, instead
   * of streaming through a receive buffer (TE's forward p2p_comm_buffers, PyTorch's all-gather rotater).
   */
  readonly kvRetainedIn?: readonly Phase[];
  readonly ranks: number;
  readonly seq: number;
  /** Layout of the sequence over ranks before attention (and of the loss). */
  readonly shards: readonly RankShard[];
  readonly steps: readonly Step[];
  readonly loss: LossStep;
}

export interface InvalidSchedule {
  readonly valid: false;
  readonly strategy: StrategyId;
  readonly impl?: ImplId;
  readonly ranks: number;
  readonly seq: number;
  /** Why the strategy cannot run these params, for the UI, e.g. "Ulysses needs ranks to divide 8 K/V heads". */
  readonly reason: string;
}

export type Schedule = ValidSchedule | InvalidSchedule;

export interface StrategyInfo {
  readonly id: StrategyId;
  readonly name: string;
  /** Two sentences: what moves, and why. */
  readonly description: string;
  /** Paper or code the mechanism follows. */
  readonly source: string;
  /** Token layout of the Q shards. */
  readonly layout: 'contiguous' | 'zigzag' | 'striped';
  readonly build: (params: Params) => Schedule;
}

// ---------------------------------------------------------------------------------------------
// Token-set arithmetic, closed-form so it never loops over tokens.

export function segmentLast(seg: Segment): number {
  return seg.start + (seg.count - 1) * seg.stride;
}

export function tokenCount(set: TokenSet): number {
  let n = 0;
  for (let i = 0; i < set.length; i++) n += (set[i] as Segment).count;
  return n;
}

/** Global position of the i-th token stored in a buffer laid out as `set`. */
export function globalIndex(set: TokenSet, i: number): number {
  let local = i;
  for (const seg of set) {
    if (local < seg.count) return seg.start + local * seg.stride;
    local -= seg.count;
  }
  throw new RangeError(`token ${i} is outside a set of ${tokenCount(set)} tokens`);
}

/** Σ_{i=0}^{n-1} clamp(i + c, 0, cap), in O(1). */
function sumClampedRamp(n: number, c: number, cap: number): number {
  if (n <= 0 || cap <= 0) return 0;
  // Terms are 0 for i < -c, i + c for -c ≤ i < cap - c, cap after.
  const rampStart = Math.max(0, -c);
  const rampEnd = Math.min(n, cap - c); // exclusive
  let total = 0;
  if (rampEnd > rampStart) {
    const first = rampStart + c;
    const last = rampEnd - 1 + c;
    total += ((first + last) * (rampEnd - rampStart)) / 2;
  }
  const capStart = Math.max(rampStart, cap - c, 0);
  if (n > capStart) total += (n - capStart) * cap;
  return total;
}

/**
 * Number of pairs (q, k), q in `q`, k in `kv`, with k ≤ q by global position. O(1).
 * Both segments must share a stride, or one of them must hold a single token.
 */
export function causalPairs(q: Segment, kv: Segment): number {
  if (q.count <= 0 || kv.count <= 0) return 0;
  if (q.count === 1 || kv.count === 1 || q.stride === kv.stride) {
    if (kv.count === 1) {
      // Queries at or after kv.start.
      const s = q.stride;
      const firstAtOrAfter = q.start >= kv.start ? 0 : Math.ceil((kv.start - q.start) / s);
      return Math.max(0, q.count - firstAtOrAfter);
    }
    if (q.count === 1) {
      const s = kv.stride;
      if (q.start < kv.start) return 0;
      return Math.min(kv.count, Math.floor((q.start - kv.start) / s) + 1);
    }
    // q_i = q0 + i·s, k_m = k0 + m·s: k_m ≤ q_i ⟺ m ≤ i + floor((q0 − k0)/s).
    const offset = Math.floor((q.start - kv.start) / q.stride);
    return sumClampedRamp(q.count, offset + 1, kv.count);
  }
  throw new Error(`causalPairs: mixed strides ${q.stride} and ${kv.stride}`);
}

/** Classifies a tile by global position and counts its pairs. */
export function makeTile(q: Segment, kv: Segment): ComputeTile {
  const pairs = causalPairs(q, kv);
  const total = q.count * kv.count;
  const mask: MaskKind = pairs === 0 ? 'skipped' : pairs === total ? 'full' : 'causal';
  return { q, kv, mask, pairs };
}

/** All segment pairs of a rank's q and kv sets. */
export function tilesFor(q: TokenSet, kv: TokenSet): ComputeTile[] {
  // Sized up front: a schedule holds thousands of these lists of one to a few tiles, and an array
  // grown by push() reserves room for 16.
  // Indexed loops: nested for…of left an array iterator per outer segment in the optimised code.
  let n = 0;
  for (let a = 0; a < q.length; a++) if ((q[a] as Segment).count > 0) for (let b = 0; b < kv.length; b++) if ((kv[b] as Segment).count > 0) n++;
  const tiles = new Array<ComputeTile>(n);
  let i = 0;
  for (let a = 0; a < q.length; a++) {
    const qs = q[a] as Segment;
    if (qs.count <= 0) continue;
    for (let b = 0; b < kv.length; b++) {
      const ks = kv[b] as Segment;
      if (ks.count > 0) tiles[i++] = makeTile(qs, ks);
    }
  }
  return tiles;
}

export function computedPairs(rc: RankCompute): number {
  let n = 0;
  const tiles = rc.tiles;
  for (let i = 0; i < tiles.length; i++) n += (tiles[i] as ComputeTile).pairs;
  return n * (rc.heads.end - rc.heads.start);
}
