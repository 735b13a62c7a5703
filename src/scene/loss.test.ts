import { describe, expect, it } from 'vitest';
import { labelsShiftedBeforeSharding, labelsShiftedPerShard, ownerOf } from './loss.ts';
import type { TokenSet } from '../model/schedule.ts';

const contiguous: TokenSet[] = [0, 1, 2, 3].map((r) => [{ start: r * 4, count: 4, stride: 1 }]);
const zigzag: TokenSet[] = [0, 1].map((r) => [
  { start: r * 4, count: 4, stride: 1 },
  { start: (3 - r) * 4, count: 4, stride: 1 },
]);
const striped: TokenSet[] = [0, 1, 2, 3].map((r) => [{ start: r, count: 4, stride: 4 }]);

describe('labels for the loss', () => {
  it('shifted before sharding: every token but the global last has a target; boundaries cross shards', () => {
    const owns = (r: number) => (p: number) => ownerOf(contiguous, p) === r;
    const reports = contiguous.map((t, r) => labelsShiftedBeforeSharding(t, 16, owns(r)));
    expect(reports.map((x) => x.correct)).toEqual([4, 4, 4, 3]);
    expect(reports.map((x) => x.crossShard)).toEqual([1, 1, 1, 0]);
    expect(reports.every((x) => x.lost === 0 && x.wrong === 0)).toBe(true);
  });

  it('shifted per shard (the bug): one label lost per boundary', () => {
    const reports = contiguous.map((t) => labelsShiftedPerShard(t, 16));
    expect(reports.map((x) => x.lost)).toEqual([1, 1, 1, 0]);
    expect(reports.map((x) => x.correct)).toEqual([3, 3, 3, 3]);
  });

  it('zigzag per-shard shift also pairs the head chunk with the wrong next token', () => {
    const r0 = labelsShiftedPerShard(zigzag[0] ?? [], 16);
    expect(r0).toEqual({ correct: 6, wrong: 1, lost: 0, crossShard: 0 });
    const r1 = labelsShiftedPerShard(zigzag[1] ?? [], 16);
    // Rank 1 holds chunks 1 and 2, which happen to be adjacent.
    expect(r1).toEqual({ correct: 7, wrong: 0, lost: 1, crossShard: 0 });
  });

  it('striped per-shard shift gets every label wrong', () => {
    const r = labelsShiftedPerShard(striped[1] ?? [], 16);
    expect(r.correct).toBe(0);
    expect(r.wrong).toBe(3);
    expect(ownerOf(striped, 13)).toBe(1);
  });
});
