import { describe, expect, it } from 'vitest';
import { parseParams, STRATEGY_IDS } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { buildModel, createContext, type SceneContext } from './context.ts';
import { computeLayout } from './layout.ts';
import { FLY_BUDGET, isWrap, partsAt, pieceAt, planMotion, sumPieceAt, transferLabels, widestGap } from './motion.ts';
import type { OverlayDom } from './overlay.ts';

function contextFor(hash: string, w = 960, h = 540): SceneContext | null {
  const { params } = parseParams(hash);
  const schedule = buildSchedule(params);
  if (!schedule.valid) return null;
  const ctx = createContext({} as OverlayDom);
  ctx.model = buildModel(schedule, params);
  ctx.layout = computeLayout(w, h, ctx.model.groups);
  return ctx;
}

const EPS = 1e-6;

describe('motion geometry', () => {
  it('every moved piece lands inside its destination lane and column, and never leaves its column (all strategies, P = 1, 2, 3, 8, 64)', () => {
    let checked = 0;
    const bad: string[] = [];
    for (const strategy of STRATEGY_IDS) {
      for (const P of [1, 2, 3, 8, 64]) {
        const extra = strategy === 'usp' && P >= 2 ? `&ulysses=${P % 2 === 0 ? 2 : 1}` : '';
        const ctx = contextFor(`#strategy=${strategy}&seq=1M&ranks=${P}&heads=64&kvHeads=64${extra}`);
        if (!ctx?.model) continue;
        const m = ctx.model;
        const L = ctx.layout;
        m.schedule.steps.forEach((_, i) => {
          const plan = planMotion(ctx, i);
          for (const g of plan.geos) {
            const lane = L.lanes[g.tr.dst];
            const where = `${strategy} P=${P} step ${i} r${g.tr.src}→r${g.tr.dst} ${g.tr.tensor}`;
            if (!lane) {
              bad.push(`${where}: no lane`);
              continue;
            }
            // End of the step: one part, exactly the destination block, inside the destination lane.
            const end = partsAt(g, 1, plan.top, plan.bottom);
            const e = end[0];
            if (end.length !== 1 || !e) bad.push(`${where}: ${end.length} parts at the end`);
            else if (e.y < lane.y - EPS || e.y + e.h > lane.y + lane.h + EPS) bad.push(`${where}: lands at ${e.y}+${e.h}, lane ${lane.y}+${lane.h}`);
            // x: every piece within its own column (so it never crosses another column's box).
            const k = g.col.w / m.schedule.seq;
            for (let p = 0; p < g.pieces.rects.length; p += 2) {
              const x0 = g.col.x + (g.pieces.rects[p] as number) * k;
              const x1 = g.col.x + (g.pieces.rects[p + 1] as number) * k;
              if (x0 < g.col.x - EPS || x1 > g.col.x + g.col.w + EPS) bad.push(`${where}: piece ${x0}–${x1} outside its column ${g.col.x}+${g.col.w}`);
            }
            // In flight: below the column titles and above the legend (a wrap goes through the portal).
            for (const t of [0, 0.2, 0.5, 0.8, 0.9]) {
              for (const part of partsAt(g, t, plan.top, plan.bottom)) {
                if (part.y < Math.min(plan.top, g.ya.y) - EPS || part.y + part.h > Math.max(plan.bottom, g.ya.y + g.ya.h) + EPS) bad.push(`${where}: in flight at t=${t} outside the lanes`);
              }
            }
            checked++;
          }
          // Budget: aggregated steps say so, and stay within the budget.
          const pieces = plan.geos.reduce((a, g) => a + g.pieces.rects.length / 2, 0);
          if (plan.shownRanks) expect(plan.omittedTransfers).toBeGreaterThan(0);
          if (plan.shownRanks) expect(pieces).toBeLessThanOrEqual(FLY_BUDGET * 1.5);
        });
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
    expect(checked).toBeGreaterThan(1000);
  });

  it('a ring hop moves one lane down; the wrap leaves at the bottom and re-enters at the top', () => {
    const ctx = contextFor('#strategy=ring&seq=64K&ranks=4');
    if (!ctx) throw new Error('ring 4 is valid');
    const plan = planMotion(ctx, 0);
    const wrap = plan.geos.find((g) => g.tr.src === 3 && g.tr.dst === 0);
    const hop = plan.geos.find((g) => g.tr.src === 0 && g.tr.dst === 1);
    expect(wrap?.wrap).toBe(true);
    expect(hop?.wrap).toBe(false);
    if (!wrap) return;
    // Halfway, the wrap is either leaving below the last lane or entering above the first: never over lanes 1 and 2.
    const lane1 = ctx.layout.lanes[1];
    const lane2 = ctx.layout.lanes[2];
    if (!lane1 || !lane2) throw new Error('lanes');
    for (let t = 0; t <= 1; t += 0.05) {
      for (const part of pieceAt(wrap, t, plan.top, plan.bottom)) {
        const overMiddle = part.y < lane2.y + lane2.h && part.y + part.h > lane1.y;
        expect(overMiddle).toBe(false);
      }
    }
    expect(isWrap('send-recv', 1, 0, 2)).toBe(false);
  });

  it('labels name endpoints, tensors and the modelled bytes', () => {
    const ctx = contextFor('#strategy=ring&seq=128K&ranks=8');
    if (!ctx?.model) throw new Error('ring 8 is valid');
    const plan = planMotion(ctx, 0);
    const labels = transferLabels(plan.geos);
    const r4 = labels.find((l) => l.dst === 4);
    const bytes = plan.geos.filter((g) => g.tr.dst === 4).reduce((a, g) => a + g.tr.bytes, 0);
    expect(r4?.variants[0]).toBe(`r3→r4 K,V ${(bytes / 1e6).toFixed(1)} MB`);
    const ag = contextFor('#strategy=allgather&seq=128K&ranks=8');
    if (!ag?.model) throw new Error('allgather 8 is valid');
    const last = ag.model.schedule.steps.length - 1;
    const rs = transferLabels(planMotion(ag, last).geos);
    expect(rs[0]?.variants[0]).toMatch(/^Σ 7 ranks→r\d dK,dV 7×/);
  });

  it('aggregates at 64 ranks and 10M tokens instead of dropping blocks', () => {
    const ctx = contextFor('#strategy=allgather&seq=10M&ranks=64');
    if (!ctx?.model) throw new Error('valid');
    const plan = planMotion(ctx, 0);
    expect(plan.shownRanks).not.toBeNull();
    expect((plan.shownRanks ?? []).length).toBeLessThan(64);
    const pieces = plan.geos.reduce((a, g) => a + g.pieces.rects.length / 2, 0);
    expect(pieces).toBeLessThanOrEqual(ctx.pools.fly.capacity / 2);
    // Every moving transfer is drawn or counted as omitted, and only those into the shown ranks are drawn.
    const moving = ctx.model.tracks[0]?.filter((t) => !t.local && t.tensor !== 'loss') ?? [];
    const shown = new Set(plan.shownRanks);
    expect(plan.geos.length + plan.omittedTransfers).toBe(moving.length);
    expect(plan.geos.every((g) => shown.has(g.tr.dst))).toBe(true);
    expect(plan.geos.map((g) => g.tr)).toEqual(moving.filter((t) => shown.has(t.dst)));
  });

  it('reduce-scatter: partials land in their own slots of the destination block, then merge into it (the sum)', () => {
    const ag = contextFor('#strategy=allgather&seq=128K&ranks=8');
    if (!ag?.model) throw new Error('allgather 8 is valid');
    const last = ag.model.schedule.steps.length - 1;
    const geos = planMotion(ag, last).geos.filter((g) => g.tr.dst === 3 && g.tr.tensor === 'dK');
    expect(geos.length).toBe(7);
    expect(new Set(geos.map((g) => g.sum?.k))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6]));
    for (const g of geos) {
      if (!g.sum) throw new Error('a reduce-scatter partial has a slot');
      // Arrived (85%): inside the block, in its own slot, one seventh of its height.
      const at = sumPieceAt(g, g.sum, 0.85);
      expect(at.h).toBeCloseTo(g.yb.h / 7);
      expect(at.y).toBeCloseTo(g.yb.y + (g.sum.k * g.yb.h) / 7);
      // Settled: all partials are the one summed block.
      expect(sumPieceAt(g, g.sum, 1)).toEqual(g.yb);
    }
  });

  it('finds the widest free stretch of a lane', () => {
    expect(widestGap(0, 100, [[10, 20], [50, 60]])).toEqual({ x: 60, w: 40 });
    expect(widestGap(0, 100, [])).toEqual({ x: 0, w: 100 });
    expect(widestGap(0, 100, [[0, 100]]).w).toBe(0);
  });
});
