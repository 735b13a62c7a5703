// Token -> rank placement: which global token positions each rank holds as its shard of every
// token-wise tensor (X, Q, K, V, O, labels, position ids). Closed form, O(ranks), never O(tokens).
//
// Uneven lengths: chunk c of n chunks is [floor(c·s/n), floor((c+1)·s/n)), so chunk sizes differ
// by at most one token and every length works. Megatron-Core instead requires s % (2·cp) == 0 and
// pads the sequence up to that multiple (padding tokens masked out of the loss); we split unevenly,
// which computes the same attention without padding tokens. Empty segments (a chunk of 0 tokens,
// e.g. when s < 2P) are dropped, so a rank may hold an empty TokenSet.

import type { Segment, TokenSet } from './schedule.ts';

export type LayoutKind = 'contiguous' | 'zigzag' | 'striped';

/** Chunk c of n equal-as-possible chunks of [0, seq). */
export function chunk(seq: number, n: number, c: number): Segment {
  const start = Math.floor((c * seq) / n);
  const end = Math.floor(((c + 1) * seq) / n);
  return { start, count: end - start, stride: 1 };
}

/** Drops segments with no tokens, so that empty shards are harmless to every consumer. */
export function nonEmpty(set: readonly Segment[]): TokenSet {
  return set.filter((s) => s.count > 0);
}

/** Rank r holds the r-th of P consecutive blocks (Liu et al. 2023, ring attention). */
export function contiguousLayout(seq: number, ranks: number): TokenSet[] {
  const out: TokenSet[] = [];
  for (let r = 0; r < ranks; r++) out.push(nonEmpty([chunk(seq, ranks, r)]));
  return out;
}

/**
 * 2P chunks; rank r holds chunks r and 2P−1−r (head + tail), so each rank owns an equal share
 * of the causal triangle. Sources: zhuzilin/ring-flash-attention (zigzag), Megatron-Core's 2·cp
 * split, the PyTorch context_parallel load balancer (s=8, P=2 → [0,7,1,6,2,5,3,4] is the same
 * pairing at token granularity).
 */
export function zigzagLayout(seq: number, ranks: number): TokenSet[] {
  const n = 2 * ranks;
  const out: TokenSet[] = [];
  for (let r = 0; r < ranks; r++) out.push(nonEmpty([chunk(seq, n, r), chunk(seq, n, n - 1 - r)]));
  return out;
}

/** Token i lives on rank i mod P: one segment of stride P (Brandon et al. 2023, striped attention). */
export function stripedLayout(seq: number, ranks: number): TokenSet[] {
  const out: TokenSet[] = [];
  for (let r = 0; r < ranks; r++) {
    const count = r < seq ? Math.ceil((seq - r) / ranks) : 0;
    out.push(nonEmpty([{ start: r, count, stride: ranks }]));
  }
  return out;
}

export function layoutFor(kind: LayoutKind, seq: number, ranks: number): TokenSet[] {
  switch (kind) {
    case 'contiguous':
      return contiguousLayout(seq, ranks);
    case 'zigzag':
      return zigzagLayout(seq, ranks);
    case 'striped':
      return stripedLayout(seq, ranks);
  }
}

/**
 * Part u of n of every segment of `set` (same stride), e.g. the share of one Ulysses rank in its
 * group's tokens. Segment order is kept; empty parts are dropped.
 */
export function splitSet(set: TokenSet, u: number, n: number): TokenSet {
  return nonEmpty(
    set.map((seg) => {
      const a = Math.floor((u * seg.count) / n);
      const b = Math.floor(((u + 1) * seg.count) / n);
      return { start: seg.start + a * seg.stride, count: b - a, stride: seg.stride };
    }),
  );
}

/** `set` without the global token `pos` when it is the last token of one of its segments. */
export function withoutTrailingToken(set: TokenSet, pos: number): TokenSet {
  return nonEmpty(
    set.map((seg) => (seg.count > 0 && seg.start + (seg.count - 1) * seg.stride === pos ? { ...seg, count: seg.count - 1 } : seg)),
  );
}
