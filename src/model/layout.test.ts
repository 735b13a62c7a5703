import { describe, expect, it } from 'vitest';
import { chunk, contiguousLayout, layoutFor, splitSet, stripedLayout, withoutTrailingToken, zigzagLayout, type LayoutKind } from './layout.ts';
import type { TokenSet } from './schedule.ts';
import { tokenCount } from './schedule.ts';

function tokens(set: TokenSet): number[] {
  const out: number[] = [];
  for (const s of set) for (let i = 0; i < s.count; i++) out.push(s.start + i * s.stride);
  return out;
}

const KINDS: LayoutKind[] = ['contiguous', 'zigzag', 'striped'];
const SEQS = [1, 2, 7, 8, 16, 33, 64, 100, 131];

describe('layouts', () => {
  for (const kind of KINDS)
    it(`${kind}: every token on exactly one rank, no empty segments, for uneven lengths`, () => {
      for (let P = 1; P <= 16; P++)
        for (const s of SEQS) {
          const shards = layoutFor(kind, s, P);
          expect(shards).toHaveLength(P);
          const seen = new Array<number>(s).fill(0);
          for (const shard of shards) {
            for (const seg of shard) expect(seg.count).toBeGreaterThan(0);
            for (const t of tokens(shard)) seen[t] = (seen[t] ?? 0) + 1;
          }
          expect(seen.every((n) => n === 1)).toBe(true);
          // Shards differ by at most one token per chunk they hold.
          const sizes = shards.map(tokenCount);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(kind === 'zigzag' ? 2 : 1);
        }
    });

  it('contiguous: rank r holds [floor(r·s/P), floor((r+1)·s/P))', () => {
    expect(contiguousLayout(10, 3).map(tokens)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]);
  });

  it('zigzag: 2P chunks, rank r holds chunks r and 2P−1−r', () => {
    expect(zigzagLayout(16, 4).map(tokens)).toEqual([
      [0, 1, 14, 15],
      [2, 3, 12, 13],
      [4, 5, 10, 11],
      [6, 7, 8, 9],
    ]);
    // PyTorch context_parallel's example: s = 8 on 2 ranks -> {0,7,1,6} and {2,5,3,4}.
    expect(zigzagLayout(8, 2).map((s) => tokens(s).sort((a, b) => a - b))).toEqual([
      [0, 1, 6, 7],
      [2, 3, 4, 5],
    ]);
    for (let P = 1; P <= 8; P++)
      for (const s of SEQS) {
        const z = zigzagLayout(s, P);
        for (let r = 0; r < P; r++) {
          const expected = [chunk(s, 2 * P, r), chunk(s, 2 * P, 2 * P - 1 - r)].filter((c) => c.count > 0);
          expect(z[r]).toEqual(expected);
        }
      }
  });

  it('striped: token i on rank i mod P, one segment of stride P', () => {
    for (let P = 1; P <= 16; P++)
      for (const s of SEQS) {
        const shards = stripedLayout(s, P);
        shards.forEach((shard, r) => {
          expect(shard.length).toBeLessThanOrEqual(1);
          for (const t of tokens(shard)) expect(t % P).toBe(r);
          if (shard[0]) expect(shard[0].stride).toBe(P);
        });
      }
  });

  it('fewer tokens than ranks leaves harmless empty shards', () => {
    expect(contiguousLayout(3, 8).filter((s) => s.length === 0)).toHaveLength(5);
    expect(zigzagLayout(3, 4).map(tokenCount).reduce((a, b) => a + b, 0)).toBe(3);
    expect(stripedLayout(2, 4)).toEqual([[{ start: 0, count: 1, stride: 4 }], [{ start: 1, count: 1, stride: 4 }], [], []]);
  });

  it('splitSet partitions every segment, withoutTrailingToken drops only the global last token', () => {
    const set = zigzagLayout(33, 2)[0] ?? [];
    const parts = [0, 1, 2].map((u) => splitSet(set, u, 3));
    expect(parts.flatMap(tokens).sort((a, b) => a - b)).toEqual(tokens(set).sort((a, b) => a - b));
    expect(tokens(withoutTrailingToken(set, 32))).toEqual(tokens(set).filter((t) => t !== 32));
    expect(withoutTrailingToken([{ start: 3, count: 1, stride: 4 }], 3)).toEqual([]);
    expect(withoutTrailingToken(contiguousLayout(10, 2)[0] ?? [], 9)).toEqual(contiguousLayout(10, 2)[0]);
  });

  it('is O(ranks): 16M tokens at 64 ranks', () => {
    const z = zigzagLayout(16 * 1024 * 1024, 64);
    expect(z.map(tokenCount).reduce((a, b) => a + b, 0)).toBe(16 * 1024 * 1024);
  });
});
