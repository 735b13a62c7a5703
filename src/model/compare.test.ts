import { describe, expect, it } from 'vitest';
import { bestByColumn, compareStrategies, comparisonToCsv, comparisonToMarkdown, COMPARISON_COLUMNS, peakRankCategories } from './compare.ts';
import { maxSeqSearch, planPeak, runSearch } from './fit.ts';
import { DEFAULT_PARAMS, STRATEGY_IDS } from './params.ts';
import { MEMORY_CATEGORIES, plan } from './plan.ts';

describe('compare', () => {
  const c = compareStrategies({ ...DEFAULT_PARAMS });

  it('one row per strategy, each read from that strategy\'s plan()', () => {
    expect(c.rows.map((r) => r.strategy)).toEqual([...STRATEGY_IDS]);
    for (const row of c.rows) {
      const p = plan({ ...DEFAULT_PARAMS, strategy: row.strategy });
      expect(row.valid).toBe(p.valid);
      expect(row.peakBytes).toBe(planPeak(p));
      expect(row.kvWorkingSetBytes).toBe(Math.max(...p.perRank.map((r) => r.memory.kvWorkingSet)));
      expect(row.commBytesPerLayer?.forward).toBe(Math.max(...p.perRank.map((r) => r.commBytesPerLayer.forward)));
      expect(row.exposedSecondsPerLayer).toBe(p.timeline.exposedPerLayer);
      expect(row.steps).toBe(p.schedule.valid ? p.schedule.steps.length : -1);
      expect(row.balance).toBe(p.balance.maxOverMean);
      expect(row.maxSeqThatFits).toBe(runSearch(maxSeqSearch({ ...DEFAULT_PARAMS, strategy: row.strategy })).maxSeq);
    }
  });

  it('all-gather\'s K/V working set is several times ring\'s (the issue\'s example)', () => {
    const ag = c.rows.find((r) => r.strategy === 'allgather');
    const ring = c.rows.find((r) => r.strategy === 'ring');
    expect((ag?.kvWorkingSetBytes ?? 0) / (ring?.kvWorkingSetBytes ?? 1)).toBeGreaterThan(4);
  });

  it('"differs most" is the category furthest from the median of the other valid strategies', () => {
    const cats = new Map(STRATEGY_IDS.map((s) => [s, peakRankCategories(plan({ ...DEFAULT_PARAMS, strategy: s }))] as const));
    let named = 0;
    for (const row of c.rows) {
      const mine = cats.get(row.strategy);
      if (!row.valid || !mine) continue;
      let best: { k: string; diff: number } | null = null;
      for (const k of MEMORY_CATEGORIES) {
        const others = c.rows.filter((r) => r.valid && r.strategy !== row.strategy).map((r) => cats.get(r.strategy)?.[k] as number).sort((a, b) => a - b);
        const n = others.length;
        const median = n % 2 ? (others[(n - 1) / 2] as number) : ((others[n / 2 - 1] as number) + (others[n / 2] as number)) / 2;
        const diff = Math.abs(mine[k] - median);
        if (diff > 0.005 * (row.peakBytes as number) && (!best || diff > best.diff)) best = { k, diff };
      }
      expect(row.distinct?.category ?? null, row.strategy).toBe(best?.k ?? null);
      if (best) named++;
    }
    expect(named).toBeGreaterThan(0);
  });

  it('best per column: the minimum (max for the longest seq), none when all tie', () => {
    const best = bestByColumn(c.rows);
    for (const col of COMPARISON_COLUMNS) {
      const vals = c.rows.filter((r) => r.valid).map((r) => col.value(r) as number);
      const target = col.best === 'min' ? Math.min(...vals) : Math.max(...vals);
      for (const s of best[col.key]) expect(Math.abs((col.value(c.rows.find((r) => r.strategy === s)!) as number) - target)).toBeLessThanOrEqual(Math.abs(target) * 5e-4);
      if (vals.every((v) => v === vals[0])) expect(best[col.key].size).toBe(0);
    }
    expect([...best.kv]).not.toContain('allgather');
    expect([...best.steps]).toEqual(['allgather']);
  });

  it('invalid rows carry the reason and null numbers', () => {
    const c64 = compareStrategies({ ...DEFAULT_PARAMS, ranks: 64 }, { withoutFit: true });
    const u = c64.rows.find((r) => r.strategy === 'ulysses');
    expect(u).toMatchObject({ valid: false, peakBytes: null, maxSeqThatFits: null });
    expect(u?.reason).toMatch(/divide/);
  });

  it('Markdown and CSV: one line per strategy, escaped, raw numbers in the CSV', () => {
    const md = comparisonToMarkdown(c).split('\n');
    expect(md.filter((l) => l.startsWith('| ')).length).toBe(2 + STRATEGY_IDS.length); // header, separator, rows
    expect(md.join('\n')).toContain('★');
    const csv = comparisonToCsv(c).split('\n');
    expect(csv).toHaveLength(1 + STRATEGY_IDS.length);
    const ring = csv.find((l) => l.startsWith('ring,'))?.split(',');
    expect(Number(ring?.[4])).toBe(c.rows.find((r) => r.strategy === 'ring')?.peakBytes);
    const c64 = compareStrategies({ ...DEFAULT_PARAMS, ranks: 64 }, { withoutFit: true });
    const invalid = comparisonToMarkdown({ ...c64, rows: c64.rows.map((r) => (r.valid ? r : { ...r, reason: 'a | b' })) });
    expect(invalid).toContain('a \\| b');
  });
});
