// The backward oracle, checked independently: central finite differences of a float64 causal-attention
// forward (written out here, not the one under test) give dL/dQ, dL/dK, dL/dV of L = Σ O ∘ dO.
import { describe, expect, it } from 'vitest';
import { generateInputs } from './random.ts';
import { causalAttentionBackward, gradientError, outputGradient, referenceKvHeads } from './referenceBackward.ts';
import { finiteDifferenceGradients } from './gradcheck.ts';
import { DEFAULT_PARAMS, STRATEGY_IDS } from './params.ts';
import { buildSchedule } from './strategies/index.ts';
import { IMPLS } from './strategies/impl.ts';
import { buildExecPlan } from './execution.ts';
import { executePlanCpu } from './reference.ts';

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

describe('the backward ExecPlan on the CPU executor', () => {
  it('every strategy and implementation profile over P ∈ {1,2,3,4,7,8}: gradients equal the reference, nothing missing or stranded', () => {
    for (const impl of ['auto', ...IMPLS] as const)
    for (const strategy of STRATEGY_IDS)
      for (const P of impl === 'auto' ? [1, 2, 3, 4, 7, 8] : [2, 3, 8]) {
        const params = { ...DEFAULT_PARAMS, impl, strategy, ranks: P, seq: 19, execSeq: 19, heads: 8, kvHeads: 2, headDim: 4, ulysses: P % 2 === 0 ? 2 : 1 };
        const schedule = buildSchedule(params);
        if (!schedule.valid) continue;
        const plan = buildExecPlan(schedule, params);
        const label = `${strategy} (${impl}) P=${P}`;
        expect(plan.backwardError, label).toBeNull();
        expect(plan.backward?.missing, label).toBe(0);
        expect(plan.backward?.stranded, label).toBe(0);
        const inputs = generateInputs(P, 8, 2, 19, 4);
        const dO = outputGradient(P, 8, 19, 4);
        const run = executePlanCpu(plan, inputs, false, dO);
        const ref = causalAttentionBackward(inputs, dO);
        for (const t of ['dq', 'dk', 'dv'] as const) expect(gradientError(run.grads?.[t] ?? [], ref[t], { seq: 19, headDim: 4 }).relative, `${label} ${t}`).toBeLessThan(1e-5);
      }
  });

  it('ring: dK/dV partial sums hop one rank per step behind their block, each rank adds its part before passing it on', () => {
    const params = { ...DEFAULT_PARAMS, strategy: 'ring' as const, ranks: 4, seq: 16, execSeq: 16, heads: 2, kvHeads: 2, headDim: 4 };
    const plan = buildExecPlan(buildSchedule(params), params);
    const b = plan.backward;
    if (!b) throw new Error(plan.backwardError ?? 'no backward');
    const piece = (id: number) => plan.pieces[id];
    // Backward ring steps 1..3 reduce (own partial + received sum) before sending, step 0 only sends its own partial.
    const ringSteps = b.steps.filter((s) => s.compute.length > 0);
    expect(ringSteps.length).toBe(4);
    expect(ringSteps[0]?.reduce.length).toBe(0);
    for (const s of ringSteps.slice(2)) {
      expect(s.reduce.length).toBe(8); // 4 ranks × dK, dV
      for (const r of s.reduce) expect(piece(r.src)?.rank).toBe(piece(r.dst)?.rank);
    }
    // Every dK/dV transfer goes rank r → r+1.
    for (const s of b.steps)
      for (const c of s.transfers) {
        const src = piece(c.src);
        const dst = piece(c.dst);
        if (src?.tensor === 'dK' || src?.tensor === 'dV') expect(dst?.rank).toBe(((src.rank) + 1) % 4);
      }
    // Final: each rank's dK comes from one received buffer (the sum travelled home), no adds needed.
    expect(b.gather.adds.length).toBe(0);
  });

  it('all-gather: the owner sums the P partial dK, dV of a reduce-scatter', () => {
    const params = { ...DEFAULT_PARAMS, strategy: 'allgather' as const, ranks: 4, seq: 16, execSeq: 16, heads: 2, kvHeads: 2, headDim: 4 };
    const plan = buildExecPlan(buildSchedule(params), params);
    const b = plan.backward;
    if (!b) throw new Error(plan.backwardError ?? 'no backward');
    // Per rank and tensor (dK, dV): one copy (its own partial) and 3 adds (the received ones).
    expect(b.gather.adds.filter((c) => plan.pieces[c.dst]?.tensor === 'dK').length).toBe(4 * 3);
  });
});
