import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, MODEL_PRESETS, applyModelPreset, type Params } from './params.ts';
import { korthikantiRow, logitsBytes, mlpKind, modelStateBytes, parameterCounts, scoreTermBytes, zeroGroupSize } from './memory.ts';

// Korthikanti et al. 2022, Table 3 model configurations (a, h, s = 2048, t = 8), plus small and
// odd shapes. The paper's expressions are evaluated literally; where a quotient such as 5as/h is
// not a binary fraction (22B: 106.67) the two float evaluations may differ in the last ulp, so
// `same` allows 1e-12 relative — far below one byte.
function same(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-12);
}
const CONFIGS = [
  { name: 'GPT-3 175B', s: 2048, b: 1, h: 12288, a: 96, t: 8 },
  { name: '22B', s: 2048, b: 4, h: 6144, a: 64, t: 8 },
  { name: '530B', s: 2048, b: 1, h: 20480, a: 128, t: 8 },
  { name: '1T', s: 2048, b: 1, h: 25600, a: 160, t: 8 },
  { name: 'small', s: 512, b: 2, h: 1024, a: 16, t: 2 },
  { name: 'long', s: 32768, b: 1, h: 4096, a: 32, t: 4 },
];

describe('Korthikanti et al. 2022, Table 2 (bytes per layer, 16-bit)', () => {
  for (const c of CONFIGS) {
    const { s, b, h, a, t } = c;
    const sbh = s * b * h;
    it(`${c.name}: every row equals the paper's expression`, () => {
      const row = (tt: number, sp: boolean, recompute: 'none' | 'selective' | 'full') => korthikantiRow({ s, b, h, a, t: tt, sp, recompute }).total;
      // no parallelism: sbh(34 + 5as/h)
      same(row(1, false, 'none'), sbh * (34 + (5 * a * s) / h));
      // TP: sbh(10 + 24/t + 5as/(ht))
      same(row(t, false, 'none'), sbh * (10 + 24 / t + (5 * a * s) / (h * t)));
      // TP + SP: sbh(34/t + 5as/(ht))
      same(row(t, true, 'none'), sbh * (34 / t + (5 * a * s) / (h * t)));
      // TP + selective: sbh(10 + 24/t)
      same(row(t, false, 'selective'), sbh * (10 + 24 / t));
      // TP + SP + selective: sbh·34/t
      same(row(t, true, 'selective'), (sbh * 34) / t);
      // full recompute: sbh·2
      same(row(1, false, 'full'), sbh * 2);
      same(row(t, false, 'full'), sbh * 2);
    });
  }

  it('GPT-3: 5as/h = 80 and selective recompute saves ~70% (the paper’s own figures)', () => {
    const s = 2048;
    const a = 96;
    const h = 12288;
    const r = korthikantiRow({ s, b: 1, h, a, t: 1, sp: false, recompute: 'none' });
    expect(r.score / (s * h)).toBe(80);
    expect(r.nonScore / (s * h)).toBe(34);
    const sel = korthikantiRow({ s, b: 1, h, a, t: 8, sp: true, recompute: 'selective' }).total;
    const none = korthikantiRow({ s, b: 1, h, a, t: 8, sp: true, recompute: 'none' }).total;
    expect(1 - sel / none).toBeCloseTo(0.70, 2);
  });

  it('the score term is 5·a·s²·b for the full square', () => {
    expect(scoreTermBytes(96, 2048, 2048, 1)).toBe(5 * 96 * 2048 * 2048);
    expect(korthikantiRow({ s: 2048, b: 3, h: 12288, a: 96, t: 4, sp: true, recompute: 'none' }).score).toBe((5 * 96 * 2048 * 2048 * 3) / 4);
  });

  it('fp32 doubles only the 16-bit terms (our generalisation): 66 and 9 instead of 34 and 5', () => {
    const r = korthikantiRow({ s: 1024, b: 1, h: 1024, a: 8, t: 1, sp: false, recompute: 'none', e: 4 });
    expect(r.nonScore).toBe(1024 * 1024 * 66);
    expect(r.score).toBe(9 * 8 * 1024 * 1024);
  });
});

describe('parameter counts', () => {
  const shape = (id: string) => {
    const m = MODEL_PRESETS.find((x) => x.id === id);
    if (!m) throw new Error(id);
    return m;
  };
  it('Llama 3 8B ≈ 8.03B, 70B ≈ 70.6B (SwiGLU, GQA, untied head)', () => {
    expect(mlpKind(shape('llama3-8b'))).toBe('swiglu');
    expect(parameterCounts(shape('llama3-8b')).total / 1e9).toBeCloseTo(8.03, 2);
    expect(parameterCounts(shape('llama3-70b')).total / 1e9).toBeCloseTo(70.55, 1);
  });
  it('GPT-3 ≈ 175B (GELU MLP of 2·h·4h)', () => {
    expect(mlpKind(shape('gpt3-175b'))).toBe('gelu');
    expect(Math.abs(parameterCounts(shape('gpt3-175b')).total / 175e9 - 1)).toBeLessThan(0.01);
  });
});

describe('model state', () => {
  const p: Params = applyModelPreset({ ...DEFAULT_PARAMS, strategy: 'ring', ranks: 8, zero: 0 }, 'llama3-8b');
  it('mixed-precision Adam: 2 + 2 + 12 bytes per parameter, replicated across CP (ZeRO accounting, ring-flash-attention profile)', () => {
    const m = modelStateBytes(p);
    const n = parameterCounts(p).total;
    expect(m.weights).toBe(2 * n);
    expect(m.grads).toBe(2 * n);
    expect(m.gradsDtypeBytes).toBe(2);
    expect(m.optimizer).toBe(12 * n);
  });
  it("Megatron-Core's fp32 main grads: 18 B/param replicated, 6 + 12/d with the distributed optimizer (docs distrib_optimizer.md)", () => {
    const n = parameterCounts(p).total;
    const mega = { ...p, strategy: 'zigzag' as const, impl: 'megatron-te' as const };
    const full = modelStateBytes(mega);
    expect(full.gradsDtypeBytes).toBe(4);
    expect((full.weights + full.grads + full.optimizer) / n).toBe(18);
    // Distributed optimizer = ZeRO-1 over d = dp × CP ranks: 6 + 12/d.
    const d = modelStateBytes({ ...mega, zero: 1, dp: 2 });
    expect((d.weights + d.grads + d.optimizer) / n).toBeCloseTo(6 + 12 / 16, 12);
    // At the defaults (8B, ZeRO-1 over 8) fp32 grads add 2 B/param, 16.06 GB: the 56.9 → 72.9 GB.
    expect((4 - 2) * n / 1e9).toBeCloseTo(16.06, 2);
    // DeepSpeed (ZeRO paper §3.1, 2Ψ grads) and fp32 training.
    expect(modelStateBytes({ ...p, strategy: 'ulysses', impl: 'deepspeed' }).gradsDtypeBytes).toBe(2);
    expect(modelStateBytes({ ...mega, dtype: 'fp32' }).gradsDtypeBytes).toBe(4);
  });
  it('ZeRO 1/2/3 shard optimizer, then grads, then weights over the DP×CP group', () => {
    const base = modelStateBytes(p);
    const z1 = modelStateBytes({ ...p, zero: 1, dp: 2 });
    const z2 = modelStateBytes({ ...p, zero: 2, dp: 2 });
    const z3 = modelStateBytes({ ...p, zero: 3, dp: 2 });
    expect(zeroGroupSize({ ...p, zero: 1, dp: 2 })).toBe(16);
    expect(z1.optimizer).toBe(base.optimizer / 16);
    expect(z1.grads).toBe(base.grads);
    expect(z2.grads).toBe(base.grads / 16);
    expect(z2.weights).toBe(base.weights);
    expect(z3.weights).toBe(base.weights / 16);
  });
  it('Megatron SP splits weights by t = ranks (norms replicated)', () => {
    const m = modelStateBytes({ ...p, strategy: 'megatron-sp', ranks: 8 });
    const c = parameterCounts(p);
    const replicated = p.layers * c.norms + c.finalNorm;
    expect(m.weights).toBe(2 * ((c.total - replicated) / 8 + replicated));
  });
  it('logits at the loss peak: bf16 logits + their fp32 copy = 6 B/element (4 in fp32 training), split over the vocab by t', () => {
    expect(logitsBytes(16384, 1, 128256)).toBe(16384 * 128256 * 6);
    expect(logitsBytes(16384, 2, 128256, 4)).toBe((16384 * 2 * 128256 * 6) / 4);
    expect(logitsBytes(16384, 1, 128256, 1, 'fp32')).toBe(16384 * 128256 * 4);
  });
});
