import { describe, expect, it } from 'vitest';
import { CompareEngine, sweepSeqs, SWEEP_MAX, SWEEP_MIN } from './compareEngine.ts';
import { compareStrategies } from '../model/compare.ts';
import { probe } from '../model/fit.ts';
import { DEFAULT_PARAMS, type Params } from '../model/params.ts';
import { plan } from '../model/plan.ts';

function settle(engine: CompareEngine, until: (e: CompareEngine) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = (): void => {
      if (until(engine)) resolve();
      else if (Date.now() - started > 120_000) reject(new Error('engine did not finish'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

describe('CompareEngine (the page\'s sliced computation)', () => {
  it('sweep: 1K to 10M, increasing, three per octave', () => {
    const s = sweepSeqs();
    expect(s[0]).toBe(SWEEP_MIN);
    expect(s[s.length - 1]).toBe(SWEEP_MAX);
    for (let i = 1; i < s.length; i++) expect(s[i] as number).toBeGreaterThan(s[i - 1] as number);
    expect(s.length).toBeGreaterThan(35);
  });

  it('rows equal compareStrategies (the CLI) after a param change, reusing the cache; sweep = probe()', async () => {
    const engine = new CompareEngine(() => {});
    const a: Params = { ...DEFAULT_PARAMS, ranks: 4, seq: 65536 };
    engine.setParams(a, plan(a));
    await settle(engine, (e) => e.snapshot?.done === true);
    expect(engine.snapshot?.rows).toEqual(compareStrategies(a).rows);
    // Only seq changes: the fits are cached and must still be right.
    const b: Params = { ...a, seq: 1 << 20, strategy: 'zigzag' };
    engine.setParams(b, plan(b));
    await settle(engine, (e) => e.snapshot?.complete === true && e.snapshot.params.seq === b.seq);
    expect(engine.snapshot?.rows).toEqual(compareStrategies(b).rows);
    const sweep = engine.snapshot?.sweep.get('ring') ?? [];
    await settle(engine, (e) => e.snapshot?.done === true);
    const point = (engine.snapshot?.sweep.get('ring') ?? sweep)[10];
    expect(point?.probe).toEqual(probe({ ...b, strategy: 'ring', seq: point?.seq ?? 0 }));
    engine.dispose();
  });

  it('fewest ranks on request, for every strategy', async () => {
    const engine = new CompareEngine(() => {});
    const a: Params = { ...DEFAULT_PARAMS, ranks: 2, seq: 8192 };
    engine.setParams(a, plan(a));
    engine.requestMinRanks(1 << 20);
    await settle(engine, (e) => e.minRanks?.done === true);
    const ring = engine.minRanks?.results.get('ring');
    expect(ring?.minRanks).toBeGreaterThan(1);
    expect(probe({ ...a, seq: 1 << 20, ranks: ring?.minRanks ?? 0 }).fits).toBe(true);
    expect(probe({ ...a, seq: 1 << 20, ranks: (ring?.minRanks ?? 0) - 1 }).fits).toBe(false);
    engine.dispose();
  });
});
