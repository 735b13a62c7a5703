// The backward oracle, checked independently: central finite differences of a float64 causal-attention
// forward (written out here, not the one under test) give dL/dQ, dL/dK, dL/dV of L = Σ O ∘ dO.
import { describe, expect, it } from 'vitest';
import { generateInputs } from './random.ts';
import { causalAttentionBackward, gradientError, outputGradient, referenceKvHeads } from './referenceBackward.ts';
import { finiteDifferenceGradients } from './gradcheck.ts';

describe('attention backward, float64 reference', () => {
  it('equals central finite differences of a float64 forward (GQA 4:2, seq 7, d 5)', () => {
    const inputs = generateInputs(11, 4, 2, 7, 5);
    const dO = outputGradient(11, 4, 7, 5);
    const ref = causalAttentionBackward(inputs, dO);
    const fd = finiteDifferenceGradients(inputs, dO);
    for (const t of ['dq', 'dk', 'dv'] as const) {
      const e = gradientError(ref[t], fd[t], { seq: 7, headDim: 5 });
      expect(e.maxMagnitude, t).toBeGreaterThan(0.1);
      expect(e.relative, t).toBeLessThan(1e-8);
    }
  });

  it('a subset of K/V heads is exact where computed and zero elsewhere', () => {
    const inputs = generateInputs(2, 4, 2, 9, 4);
    const dO = outputGradient(2, 4, 9, 4);
    const all = causalAttentionBackward(inputs, dO);
    const one = causalAttentionBackward(inputs, dO, [1]);
    expect(gradientError(one.dk, all.dk, { seq: 9, headDim: 4, heads: [1] }).maxAbsError).toBe(0);
    expect(gradientError(one.dq, all.dq, { seq: 9, headDim: 4, heads: [2, 3] }).maxAbsError).toBe(0);
    expect(one.dk.subarray(0, 36).every((x) => x === 0)).toBe(true);
    expect(one.dq.subarray(0, 72).every((x) => x === 0)).toBe(true);
  });

  it('the first token gets dK = 0 from itself alone only when it is the only key: row 0 has P = 1, so dS = 0', () => {
    // Row 0 sees only key 0 with P = 1: dP − D = 0, so query 0 contributes nothing to dQ, dK.
    const inputs = generateInputs(5, 1, 1, 1, 3);
    const dO = outputGradient(5, 1, 1, 3);
    const g = causalAttentionBackward(inputs, dO);
    expect(Array.from(g.dq)).toEqual([0, 0, 0]);
    expect(Array.from(g.dk)).toEqual([0, 0, 0]);
    expect(Array.from(g.dv)).toEqual(Array.from(dO));
  });

  it('referenceKvHeads keeps every head when affordable, else the ends first', () => {
    expect(referenceKvHeads(64, 8, 2, 16)).toEqual([0, 1]);
    const few = referenceKvHeads(4096, 32, 8, 128);
    expect(few).toContain(0);
    expect(few.length).toBeGreaterThanOrEqual(1);
    expect(few.length).toBeLessThan(8);
  });
});
