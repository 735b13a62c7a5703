import { describe, expect, it } from 'vitest';
import { fit, maxSeqSearch, minRanksSearch, probeOf, runSearch } from './fit.ts';
import { applyModelPreset, DEFAULT_PARAMS, STRATEGY_IDS, type Params } from './params.ts';
import { plan } from './plan.ts';

const fits = (p: Params): boolean => probeOf(plan(p)).fits;

// Three configs with different drivers of the peak: logits + activations (Llama 3 8B on H100),
// model state with ZeRO-3 (Llama 3 70B), quadratic scores with flash off (a custom shape on B200).
const CONFIGS: { name: string; params: Params; targetSeq: number }[] = [
  { name: 'Llama 3 8B, 8 ranks, H100', params: { ...DEFAULT_PARAMS, ranks: 8 }, targetSeq: 1 << 20 },
  {
    name: 'Llama 3 70B, 16 ranks, ZeRO-3 over dp 4, A100',
    params: { ...applyModelPreset({ ...DEFAULT_PARAMS }, 'llama3-70b'), ranks: 16, zero: 3, dp: 4, gpu: 'a100', ulysses: 4 },
    targetSeq: 256 * 1024,
  },
  {
    name: 'custom 28-head model, flash off, no recompute, 4 ranks, B200',
    params: { ...DEFAULT_PARAMS, model: 'custom', layers: 28, hidden: 3584, heads: 28, kvHeads: 4, headDim: 128, vocab: 152064, ffnHidden: 18944, flash: false, recompute: 'none', ranks: 4, gpu: 'b200', zero: 2 },
    targetSeq: 48 * 1024,
  },
];

describe('fit: longest sequence that fits (searched with plan())', () => {
  for (const cfg of CONFIGS) {
    it(`every strategy: maxSeq fits and maxSeq + 1 does not — ${cfg.name}`, () => {
      let positive = 0;
      for (const strategy of STRATEGY_IDS) {
        const params: Params = { ...cfg.params, strategy };
        const r = runSearch(maxSeqSearch(params));
        if (!plan(params).valid) {
          expect(r.maxSeq, strategy).toBeNull();
          expect(r.reason, strategy).toBeTruthy();
          continue;
        }
        expect(r.maxSeq, strategy).not.toBeNull();
        expect(r.unbounded, strategy).toBe(false);
        const n = r.maxSeq as number;
        if (n > 0) {
          positive++;
          expect(fits({ ...params, seq: n }), `${strategy} at ${n}`).toBe(true);
        }
        expect(fits({ ...params, seq: n + 1 }), `${strategy} at ${n + 1}`).toBe(false);
        // Found by searching, not scanning: a few dozen plans for a range of 2^40.
        expect(r.probes, strategy).toBeLessThan(80);
      }
      expect(positive).toBeGreaterThanOrEqual(4);
    });

    it(`every strategy: minRanks fits cfg.targetSeq and every smaller rank count does not — ${cfg.name}`, () => {
      let found = 0;
      for (const strategy of STRATEGY_IDS) {
        const params: Params = { ...cfg.params, strategy, seq: cfg.targetSeq };
        const a = fit(params, 'minRanks');
        if (a.minRanks === null || a.minRanks === undefined) {
          expect(a.fits).toBe(false);
          expect(a.reason).toBeTruthy();
          continue;
        }
        found++;
        expect(a.fits, strategy).toBe(true);
        expect(a.ranks).toBe(a.minRanks);
        expect(fits({ ...params, ranks: a.minRanks }), `${strategy} P=${a.minRanks}`).toBe(true);
        for (let p = 1; p < a.minRanks; p++) expect(fits({ ...params, ranks: p }), `${strategy} P=${p}`).toBe(false);
      }
      expect(found).toBeGreaterThanOrEqual(4);
    });
  }

  it('the fit answer reports the peak at the answer and the capacity', () => {
    const params: Params = { ...DEFAULT_PARAMS, strategy: 'zigzag' };
    const a = fit(params, 'maxSeq');
    const at = probeOf(plan({ ...params, seq: a.seq }));
    expect(a).toMatchObject({ strategy: 'zigzag', ranks: 8, fits: true, seq: a.maxSeq, peakBytes: at.peakBytes, capacityBytes: 80e9 });
    expect(a.peakBytes).toBeLessThanOrEqual(a.capacityBytes);
    expect(a.peakBytes).toBeGreaterThan(0.99 * a.capacityBytes);
  });

  it('nothing fits: maxSeq 0, fits false (GPT-3 175B on one H100)', () => {
    const params: Params = { ...applyModelPreset({ ...DEFAULT_PARAMS }, 'gpt3-175b'), ranks: 1 };
    const a = fit(params, 'maxSeq');
    expect(a.maxSeq).toBe(0);
    expect(a.fits).toBe(false);
    expect(a.peakBytes).toBeGreaterThan(a.capacityBytes);
  });

  it('an invalid strategy has no answer and says why', () => {
    const r = runSearch(minRanksSearch({ ...DEFAULT_PARAMS, strategy: 'ulysses', heads: 3, kvHeads: 1, seq: 16 << 20 }));
    expect(r.minRanks).toBeNull();
    expect(r.reason).toMatch(/rank count/);
  });
});
