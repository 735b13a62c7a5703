// Labels for the loss step, in closed form per segment (never per token).
//
// Right (Megatron builds labels = text[1:] before the CP split): token i's target is token i+1,
// wherever i+1 lives; only the global last token has none.
// The bug (shifting each shard's buffer locally after sharding, as Hugging Face Transformers once
// did): a rank's k-th token takes the (k+1)-th token of ITS OWN buffer as target, so the last token
// of every shard loses its label, and where the buffer's next token is not the global next one
// (zigzag's second chunk, every striped token) the label is wrong.

import { segmentLast, tokenCount, type TokenSet } from '../model/schedule.ts';

export interface LabelReport {
  /** Tokens with the right target. */
  readonly correct: number;
  /** Tokens whose target is another token than position + 1. */
  readonly wrong: number;
  /** Tokens that get no target although the global sequence has one for them. */
  readonly lost: number;
  /** Tokens whose right target lives on another rank (fetched at no cost: labels are shifted before sharding). */
  readonly crossShard: number;
}

/** Shift before sharding: every token but the global last has its target. */
export function labelsShiftedBeforeSharding(tokens: TokenSet, seq: number, owns: (position: number) => boolean): LabelReport {
  let correct = 0;
  let crossShard = 0;
  for (const seg of tokens) {
    if (seg.count <= 0) continue;
    const last = segmentLast(seg);
    const hasLast = last === seq - 1 ? 1 : 0;
    correct += seg.count - hasLast;
    if (seg.stride === 1) {
      if (!hasLast && !owns(last + 1)) crossShard += 1;
    } else {
      // Strided: the successor of every token lives on another rank.
      crossShard += seg.count - hasLast;
    }
  }
  return { correct, wrong: 0, lost: 0, crossShard };
}

/** Shift per shard after sharding (the bug). */
export function labelsShiftedPerShard(tokens: TokenSet, seq: number): LabelReport {
  const n = tokenCount(tokens);
  if (n === 0) return { correct: 0, wrong: 0, lost: 0, crossShard: 0 };
  let correct = 0;
  let wrong = 0;
  const segs = tokens.filter((s) => s.count > 0);
  segs.forEach((seg, i) => {
    // Inside a segment the local next token is position + stride.
    const inner = seg.count - 1;
    if (seg.stride === 1) correct += inner;
    else wrong += inner;
    const next = segs[i + 1];
    if (next) {
      // Across a segment boundary the local next token is the next segment's first.
      if (next.start === segmentLast(seg) + 1) correct += 1;
      else wrong += 1;
    }
  });
  const lastToken = segmentLast(segs[segs.length - 1] ?? { start: 0, count: 1, stride: 1 });
  // The buffer's last token gets no target; that is a loss unless it is the global last token.
  const lost = lastToken === seq - 1 ? 0 : 1;
  return { correct, wrong, lost, crossShard: 0 };
}

/** Owner lookup by position, O(ranks × segments), for the boundary test above. */
export function ownerOf(shards: readonly TokenSet[], position: number): number {
  for (let r = 0; r < shards.length; r++) {
    for (const seg of shards[r] ?? []) {
      if (seg.count <= 0) continue;
      const off = position - seg.start;
      if (off < 0 || off % seg.stride !== 0) continue;
      if (off / seg.stride < seg.count) return r;
    }
  }
  return -1;
}
