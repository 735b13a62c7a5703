// The CPU oracle: exact attention, the online-softmax merge, the ExecPlan and its CPU executor.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, STRATEGY_IDS, type Params } from './params.ts';
import { buildSchedule } from './strategies/index.ts';
import type { ValidSchedule } from './schedule.ts';
import { buildExecPlan, heldBuffers, positionsOf, segmentsOf } from './execution.ts';
import { generateInputs, mulberry32 } from './random.ts';
import { NEG_BIG, causalAttention, compare, executePlanCpu, mergeBlock, referenceRows, type SoftmaxState } from './reference.ts';
import { runVerificationCpu } from '../gpu/verify.ts';

describe('causal attention (float64 reference)', () => {
  it('row 0 attends only to key 0, so O[0] = V[0]; lse[0] = q0·k0/sqrt(d)', () => {
    const inputs = generateInputs(1, 2, 1, 5, 4);
    const { o, lse } = causalAttention(inputs);
    for (let h = 0; h < 2; h++) {
      for (let c = 0; c < 4; c++) expect(o[h * 5 * 4 + c]).toBeCloseTo(inputs.v[c] as number, 6);
      let dot = 0;
      for (let c = 0; c < 4; c++) dot += (inputs.q[h * 5 * 4 + c] as number) * (inputs.k[c] as number);
      expect(lse[h * 5]).toBeCloseTo(dot / 2, 5);
    }
  });

  it('GQA: query heads 0 and 1 of a 2:1 model read the same K/V head', () => {
    const a = generateInputs(2, 2, 1, 6, 4);
    // Make head 1's queries equal head 0's: outputs must then be equal.
    a.q.copyWithin(6 * 4, 0, 6 * 4);
    const { o } = causalAttention(a);
    expect(compare(o.subarray(0, 24), o.subarray(24, 48)).maxAbsError).toBe(0);
  });
});

describe('online softmax merge', () => {
  it('merging any split of the keys into blocks equals the one-pass softmax', () => {
    const rand = mulberry32(5);
    const n = 37;
    const d = 3;
    const scores = Array.from({ length: n }, () => (rand() - 0.5) * 20);
    const v = Array.from({ length: n }, () => Array.from({ length: d }, () => rand() - 0.5));
    const max = Math.max(...scores);
    const weights = scores.map((s) => Math.exp(s - max));
    const sum = weights.reduce((a, b) => a + b, 0);
    const exact = Array.from({ length: d }, (_, c) => weights.reduce((acc, w, j) => acc + w * (v[j]?.[c] ?? 0), 0) / sum);
    for (const blocks of [[37], [1, 36], [10, 10, 10, 7], [5, 0, 32]]) {
      const state: SoftmaxState = { m: NEG_BIG, l: 0, acc: new Float64Array(d) };
      let at = 0;
      for (const size of blocks) {
        const masked = Array.from({ length: size }, () => false);
        mergeBlock(state, scores.slice(at, at + size), masked, (j) => v[at + j] ?? []);
        at += size;
      }
      for (let c = 0; c < d; c++) expect((state.acc[c] as number) / state.l).toBeCloseTo(exact[c] as number, 12);
      expect(state.m + Math.log(state.l)).toBeCloseTo(max + Math.log(sum), 12);
    }
  });

  it('a fully masked block leaves the state unchanged, also before the first key', () => {
    const state: SoftmaxState = { m: NEG_BIG, l: 0, acc: new Float64Array(2) };
    mergeBlock(state, [3, 4], [true, true], () => [1, 1]);
    expect(state).toEqual({ m: NEG_BIG, l: 0, acc: new Float64Array(2) });
    mergeBlock(state, [1], [false], () => [2, 3]);
    mergeBlock(state, [9], [true], () => [7, 7]);
    expect(state.m).toBe(1);
    expect(state.l).toBe(1);
    expect(Array.from(state.acc)).toEqual([2, 3]);
  });
});

describe('token sets', () => {
  it('segmentsOf(positionsOf(x)) round-trips contiguous, zigzag and striped sets', () => {
    for (const set of [[{ start: 0, count: 5, stride: 1 }], [{ start: 2, count: 3, stride: 1 }, { start: 13, count: 3, stride: 1 }], [{ start: 1, count: 6, stride: 4 }]]) {
      expect(positionsOf(segmentsOf(positionsOf(set)))).toEqual(positionsOf(set));
      expect(segmentsOf(positionsOf(set))).toEqual(set);
    }
  });
});

describe('inputs', () => {
  it('are deterministic in the seed, and Q does not change with kvHeads', () => {
    const a = generateInputs(9, 4, 2, 10, 8);
    const b = generateInputs(9, 4, 2, 10, 8);
    const c = generateInputs(10, 4, 2, 10, 8);
    const d = generateInputs(9, 4, 4, 10, 8);
    expect(a.q).toEqual(b.q);
    expect(a.v).toEqual(b.v);
    expect(a.q).not.toEqual(c.q);
    expect(d.q).toEqual(a.q);
    const mean = a.q.reduce((s, x) => s + x, 0) / a.q.length;
    expect(Math.abs(mean)).toBeLessThan(0.2);
  });
});

const params = (strategy: Params['strategy'], ranks: number, seq: number, headDim: number, heads = 8, kvHeads = 2): Params => ({
  ...DEFAULT_PARAMS,
  strategy,
  ranks,
  seq,
  execSeq: seq,
  heads,
  kvHeads,
  headDim,
  ulysses: ranks % 2 === 0 ? 2 : 1,
});

describe('CPU executor of every strategy (the no-WebGPU fallback)', () => {
  for (const strategy of STRATEGY_IDS) {
    it(`${strategy}: matches the reference for P ∈ {1,2,3,4,7,8}, seq ∈ {1,17,64}, and seq 250 at head dim 64`, () => {
      for (const P of [1, 2, 3, 4, 7, 8])
        for (const [seq, d] of [[1, 16], [17, 16], [64, 16], [250, 64]] as const) {
          if (seq === 250 && P % 2 === 1 && P > 1) continue;
          const p = params(strategy, P, seq, d);
          const schedule = buildSchedule(p);
          if (!schedule.valid) {
            expect(schedule.reason).toMatch(/divide|Ulysses degree/);
            continue;
          }
          const v = runVerificationCpu(p, schedule, { backward: false });
          expect(v.backend).toBe('cpu');
          expect(v.maxAbsError, `${strategy} P=${P} seq=${seq}`).toBeLessThan(1e-5);
        }
    });
  }

  it('the local-mask bug gives a large error on the CPU too (ring)', () => {
    const p = { ...params('ring', 4, 64, 16), localMask: true };
    expect(runVerificationCpu(p, buildSchedule(p)).maxAbsError).toBeGreaterThan(0.1);
  });
});

describe('ExecPlan', () => {
  it('ring: every step is one compute per rank, K/V move rank r → r+1, and held buffers track it', () => {
    const p = params('ring', 4, 64, 16);
    const schedule = buildSchedule(p) as ValidSchedule;
    const plan = buildExecPlan(schedule, p);
    expect(plan.steps.length).toBe(4);
    for (const step of plan.steps) expect(new Set(step.compute.map((c) => c.rank)).size).toBe(step.compute.length);
    const t0 = plan.steps[0];
    for (const c of t0?.transfers ?? []) {
      const src = plan.pieces[c.src];
      const dst = plan.pieces[c.dst];
      expect(dst?.rank).toBe(((src?.rank ?? 0) + 1) % 4);
      expect(['K', 'V']).toContain(dst?.tensor);
    }
    const held = heldBuffers(plan);
    // In step 2, rank 3 holds its shard, the block received in step 1 and the block arriving now.
    const rank3 = held[2]?.[3] ?? [];
    expect(rank3.filter((b) => b.tensor === 'K' && b.role === 'received').map((b) => b.status).sort()).toEqual(['held', 'receiving']);
    expect(plan.outputs.length).toBe(4);
  });

  it('a schedule that computes with K/V a rank never received fails with the step, rank and token', () => {
    const p = params('ring', 2, 8, 4);
    const schedule = buildSchedule(p) as ValidSchedule;
    const broken: ValidSchedule = { ...schedule, steps: schedule.steps.map((s) => ({ ...s, collectives: [] })) };
    expect(() => buildExecPlan(broken, p)).toThrow(/step 1: rank \d must hold K of token \d+/);
  });

  it('an invalid schedule reports its reason', () => {
    const p = params('ulysses', 3, 8, 4);
    expect(() => buildExecPlan(buildSchedule(p), p)).toThrow(/divide/);
  });

  it('referenceRows checks every row when affordable and samples the last rows otherwise', () => {
    expect(referenceRows(100, 2, 16)).toHaveLength(100);
    const rows = referenceRows(16384, 32, 128);
    expect(rows.length).toBeLessThan(16384);
    expect(rows).toContain(16383);
    expect(rows).toContain(0);
  });
});
