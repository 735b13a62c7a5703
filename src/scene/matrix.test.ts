import { describe, expect, it } from 'vitest';
import { ringFixture } from './fixture.ts';
import { buildWorkMatrix, clipSegment, forwardProgress } from './matrix.ts';

describe('work matrix', () => {
  it('covers the causal triangle exactly once; the upper triangle stays empty', () => {
    const s = ringFixture(4, 400);
    const m = buildWorkMatrix(s, 8);
    const F = m.steps.length;
    expect(F).toBe(4);
    const n2 = m.n * m.n;
    let total = 0;
    let done = 0;
    for (let c = 0; c < n2; c++) {
      total += m.total[c] ?? 0;
      done += m.cumAt(F - 1)[c] ?? 0;
      const i = Math.floor(c / m.n);
      const j = c % m.n;
      if (j > i) {
        expect(m.total[c]).toBe(0);
        expect(m.owner[c]).toBe(-1);
      }
    }
    expect(total).toBe((400 * 401) / 2);
    expect(done).toBeCloseTo(total);
  });

  it('contiguous ring: row blocks belong to the query rank; work per rank grows 1:3:5:7', () => {
    const s = ringFixture(4, 400);
    const m = buildWorkMatrix(s, 4);
    for (let i = 0; i < 4; i++) for (let j = 0; j <= i; j++) expect(m.owner[i * 4 + j]).toBe(i);
    const F = m.steps.length;
    const last = Array.from({ length: 4 }, (_, r) => m.perRank[(F - 1) * 4 + r] ?? 0);
    // Diagonal block 100·101/2 = 5050 pairs, full block 10000, × 8 heads.
    expect(last).toEqual([5050 * 8, (5050 + 10000) * 8, (5050 + 20000) * 8, (5050 + 30000) * 8]);
    // Step t computes the cells (r, r−t).
    expect(m.first[3 * 4 + 0]).toBe(3);
    expect(m.first[2 * 4 + 2]).toBe(0);
    expect(forwardProgress(m, 0)).toBe(0);
    expect(forwardProgress(m, 100)).toBe(3);
  });

  it('clips strided segments to a range', () => {
    expect(clipSegment({ start: 1, count: 10, stride: 4 }, 8, 20)).toEqual({ start: 9, count: 3, stride: 4 });
    expect(clipSegment({ start: 0, count: 10, stride: 1 }, 20, 30)).toBeNull();
  });
});
