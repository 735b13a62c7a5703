// The gradient readout: combination of a rank's buffers, stale-result rejection, and placement in the dO column.
import { describe, expect, it } from 'vitest';
import type { GradientStepNorms } from '../model/execution.ts';
import { combineStep, formatNorm, gradientReadout, layoutGradients, readGradientSource } from './gradients.ts';

const piece = (rank: number, tensor: string, norm: number, role = 'partial') => ({ rank, tensor, role, label: `${tensor}[${rank}]`, tokens: [], heads: { start: 0, end: 1 }, norm });
const steps = [
  { step: 6, pieces: [piece(0, 'dK', 3), piece(0, 'dV', 1), piece(1, 'dK', 1), piece(0, 'dQ', 2, 'state')] },
  { step: 7, pieces: [piece(0, 'dK', 3), piece(0, 'dK', 4, 'received'), piece(1, 'dK', 12), piece(1, 'dV', 0)] },
] as unknown as GradientStepNorms[];
const result = { strategy: 'ring', ranks: 2, backend: 'gpu', seqLen: 64, backward: { gradientNorms: steps } };

describe('gradient readout', () => {
  it('combines the buffers of a rank and tensor as √Σ‖b‖², and says which tensors a rank does not hold', () => {
    const r = combineStep(steps[1] as GradientStepNorms, 2);
    expect(r[0]?.norms.dK).toBeCloseTo(5, 12);
    expect(r[0]?.norms.dV).toBeNull();
    expect(r[1]?.norms.dV).toBe(0);
    expect(r[0]?.buffers.map((b) => b.label)).toEqual(['dK[0] (partial)', 'dK[0] (received)']);
  });

  it('reads only results for the same strategy and ranks, and only recorded steps', () => {
    const src = readGradientSource(result);
    expect(gradientReadout(src, 'ring', 2, 7)?.ranks[1]?.norms.dK).toBe(12);
    expect(gradientReadout(src, 'zigzag', 2, 7)).toBeNull();
    expect(gradientReadout(src, 'ring', 4, 7)).toBeNull();
    expect(gradientReadout(src, 'ring', 2, 3)).toBeNull();
    expect(readGradientSource(null)).toBeNull();
    expect(readGradientSource({ strategy: 'ring', ranks: 2, backward: null })).toBeNull();
    expect(readGradientSource({ strategy: 'ring', ranks: 2, backward: { gradientNorms: [{ step: 'x' }] } })).toBeNull();
    // Bars scale to each tensor's largest norm over the whole backward pass.
    expect(gradientReadout(src, 'ring', 2, 6)?.scale).toEqual({ dK: 12, dV: 1, dQ: 2 });
  });

  it('formats to 4 (or 3) significant digits', () => {
    expect(formatNorm(87.2681)).toBe('87.27');
    expect(formatNorm(87.2681, 3)).toBe('87.3');
    expect(formatNorm(0)).toBe('0');
    expect(formatNorm(123456)).toBe('1.235e+5');
  });

  const readout = gradientReadout(readGradientSource(result), 'ring', 2, 6);
  const measure = (t: string, s: number): number => t.length * s * 0.56;
  const col = { x: 300, w: 300 };
  const lanes = [
    { rank: 0, x: 80, y: 50, w: 520, h: 40 },
    { rank: 1, x: 80, y: 94, w: 520, h: 40 },
  ];

  it('places numbers, bars and chips inside each lane\'s dO cell, the provenance once, never overlapping', () => {
    if (!readout) throw new Error('no readout');
    const out = layoutGradients(readout, lanes, col, ['‖grad‖ measured on the GPU run, 64 executed tokens', 'GPU, 64 tok'], 1, new Set(), measure);
    const nums = out.labels.filter((l) => l.cls?.includes('ss-grad') && !l.cls.includes('source'));
    expect(nums.map((l) => l.text)).toEqual(['dK 3.000  dV 1.000  dQ 2.000', 'dK 1.000']);
    expect(out.labels.filter((l) => l.cls?.includes('ss-grad-source'))).toHaveLength(1);
    for (const r of [...out.chips, ...out.bars]) {
      expect(r.x).toBeGreaterThanOrEqual(col.x);
      expect(r.x + r.w).toBeLessThanOrEqual(col.x + col.w + 1e-9);
      const lane = lanes.find((l) => r.y >= l.y && r.y + r.h <= l.y + l.h);
      expect(lane).toBeTruthy();
    }
    // Chips (one per readout, one for the provenance) are disjoint.
    for (const a of out.chips) for (const b of out.chips) if (a !== b) expect(a.y + a.h <= b.y || b.y + b.h <= a.y || a.x + a.w <= b.x || b.x + b.w <= a.x).toBe(true);
    // A bar's length is its norm over the tensor's largest norm.
    const dk0 = out.bars.find((b) => b.rank === 0 && b.tensor === 'dK');
    const dk1 = out.bars.find((b) => b.rank === 1 && b.tensor === 'dK');
    expect((dk1?.w ?? 0) / (dk0?.w ?? 1)).toBeCloseTo(1 / 3, 6);
  });

  it('drops dQ, then precision, on a narrow cell; skips lanes too short for text; keeps the provenance off idle lanes', () => {
    if (!readout) throw new Error('no readout');
    const narrow = layoutGradients(readout, lanes, { x: 400, w: 160 }, ['GPU'], 1, new Set(), measure);
    expect(narrow.labels[0]?.text).toBe('dK 3.00 dV 1.00 dQ 2.00');
    const tiny = layoutGradients(readout, lanes.map((l) => ({ ...l, h: 6 })), col, ['GPU'], 1, new Set(), measure);
    expect(tiny.labels).toHaveLength(0);
    const idle = layoutGradients(readout, lanes, col, ['GPU'], 1, new Set([0]), measure);
    const src = idle.labels.find((l) => l.cls?.includes('ss-grad-source'));
    expect(src?.y).toBeGreaterThanOrEqual(94);
  });

  it('on short lanes, the first readout carries the provenance; an idle short lane (the stage writes "idle" there) gets none', () => {
    if (!readout) throw new Error('no readout');
    const short = lanes.map((l, i) => ({ ...l, y: 50 + i * 22, h: 20 }));
    const out = layoutGradients(readout, short, col, ['long provenance', 'GPU, 64 tok', 'GPU 64t'], 1, new Set(), measure);
    expect(out.labels[0]?.text).toBe('GPU, 64 tok: dK 3.00 dV 1.00 dQ 2.00');
    expect(out.labels[0]?.cls).toContain('ss-grad-source');
    expect(out.labels[1]?.text).toBe('dK 1.000');
    const idle = layoutGradients(readout, short, col, ['GPU'], 1, new Set([0]), measure);
    expect(idle.labels.map((l) => l.title?.startsWith('Rank 1'))).toEqual([true]);
  });
});
