import { describe, expect, it } from 'vitest';
import { computeLayout, displayBlockTokens, headSpan, LANE_BLOCK_BUDGET, matrixCells, segmentPieces, tensorScales, tokenSpan } from './layout.ts';

const inside = (r: { x: number; y: number; w: number; h: number }, W: number, H: number): boolean => r.x >= 0 && r.y >= 0 && r.x + r.w <= W + 1e-6 && r.y + r.h <= H + 1e-6;

describe('scene layout', () => {
  for (const [W, H] of [
    [880, 430],
    [800, 332],
    [610, 608],
    [344, 407],
    [1280, 720],
    [1920, 1080],
  ] as const) {
    for (const P of [1, 2, 3, 8, 16, 32, 64]) {
      it(`frames ${P} ranks in ${W}×${H}: everything inside, lanes ordered and not overlapping`, () => {
        const groups = Array.from({ length: P }, (_, r) => Math.floor(r / 8));
        const L = computeLayout(W, H, groups);
        expect(L.lanes.length).toBe(P);
        for (const lane of L.lanes) {
          expect(inside(lane, W, H)).toBe(true);
          expect(lane.h).toBeGreaterThan(0.5);
          expect(lane.y).toBeGreaterThanOrEqual(L.columnTitles.y + L.columnTitles.h - 1e-6);
          expect(lane.y + lane.h).toBeLessThanOrEqual(L.legend.y + 1e-6);
        }
        for (let r = 1; r < P; r++) expect((L.lanes[r] as { y: number }).y).toBeGreaterThanOrEqual((L.lanes[r - 1] as { y: number; h: number }).y + (L.lanes[r - 1] as { h: number }).h);
        for (const rect of [L.matrix, L.bars, L.panel, L.legend, L.header, L.footer]) expect(inside(rect, W, H)).toBe(true);
        // Lanes, matrix, bars and panel do not overlap: beside the lanes (side, wide) or under them (stacked).
        const lanesRight = Math.max(...L.columns.map((c) => c.x + c.w));
        if (L.stacked) expect(L.legend.y + L.legend.h).toBeLessThan(L.matrix.y - 16);
        else expect(lanesRight).toBeLessThan(L.matrix.x);
        expect(L.stacked).toBe(W < 720);
        expect(L.matrix.y + L.matrix.h).toBeLessThan(L.bars.y);
        if (L.wide || L.stacked) expect(L.bars.x + L.bars.w).toBeLessThan(L.panel.x);
        else expect(L.bars.y + L.bars.h).toBeLessThan(L.panel.y);
        expect(L.bars.y + L.bars.h).toBeLessThanOrEqual(L.footer.y);
        expect(L.panel.y + L.panel.h).toBeLessThanOrEqual(L.footer.y);
        expect(L.panel.h).toBeGreaterThanOrEqual(80);
        // Lane labels at least ~12 px apart.
        const pitch = P > 1 ? (L.lanes[1] as { y: number }).y - (L.lanes[0] as { y: number }).y : 100;
        expect(pitch * L.labelEvery).toBeGreaterThanOrEqual(12);
        expect(L.groups.length).toBe(Math.ceil(P / 8));
      });
    }
  }

  it('block size is a power of two and keeps the lane blocks within the budget', () => {
    for (const seq of [1, 100, 256, 4096, 131072, 1 << 20, 16 << 20]) {
      for (const P of [1, 4, 8, 32, 64]) {
        const B = displayBlockTokens(seq, P);
        expect(Math.log2(B) % 1).toBe(0);
        expect(3 * P * Math.ceil(seq / B)).toBeLessThanOrEqual(Math.max(LANE_BLOCK_BUDGET, 3 * P * 8));
      }
    }
    expect(displayBlockTokens(131072, 8)).toBe(1024);
  });

  it('pieces: contiguous segments split at block boundaries; striped segments become a comb', () => {
    expect(segmentPieces({ start: 100, count: 300, stride: 1 }, 128)).toEqual([
      { t0: 100, t1: 128, mid: 114 },
      { t0: 128, t1: 256, mid: 192 },
      { t0: 256, t1: 384, mid: 320 },
      { t0: 384, t1: 400, mid: 392 },
    ]);
    const comb = segmentPieces({ start: 3, count: 64, stride: 4 }, 32);
    expect(comb.length).toBe(8);
    for (const p of comb) expect(p.t1 - p.t0).toBeCloseTo(8);
    // Residue 3 of stride 4: the fourth quarter of each 32-token cell.
    expect(comb[0]?.t0).toBeCloseTo(24);
    // Never more than the cap, even for a million-token stripe.
    expect(segmentPieces({ start: 0, count: 1 << 20, stride: 8 }, 16, 64).length).toBeLessThanOrEqual(64);
    expect(segmentPieces({ start: 0, count: 1 << 24, stride: 1 }, 1, 100).length).toBeLessThanOrEqual(100);
  });

  it('token and head spans map into the column and lane', () => {
    const col = { id: 'q' as const, x: 100, w: 200 };
    expect(tokenSpan(col, 1000, 0, 500)).toEqual({ x: 100, w: 100 });
    const lane = { x: 0, y: 50, w: 100, h: 20 };
    const full = headSpan(lane, { start: 0, end: 8 }, 8, 1);
    expect(full.y).toBeGreaterThanOrEqual(50);
    expect(full.y + full.h).toBeLessThanOrEqual(70);
    const half = headSpan(lane, { start: 4, end: 8 }, 8, 1);
    expect(half.h).toBeCloseTo(full.h / 2);
  });

  it('K,V height is proportional to its bytes relative to Q (GQA)', () => {
    expect(tensorScales(32, 8)).toEqual({ q: 1, kv: 0.5 });
    expect(tensorScales(32, 32)).toEqual({ q: 0.5, kv: 1 });
  });

  it('matrix cells align to the 2P chunks when they fit', () => {
    expect(matrixCells(131072, 4)).toBe(48);
    expect(matrixCells(131072, 8) % 16).toBe(0);
    expect(matrixCells(131072, 64)).toBe(64);
    expect(matrixCells(10, 4)).toBe(10);
  });
});
