// Sharded causal attention on the GPU, executed schedule by schedule, against the CPU reference.
//
// Tolerance: fp32 is held to 1e-5 absolute. Measured on SwiftShader (see the console summary): the
// unsharded flash kernel at seq 1000, head dim 128 differs from the float64 reference by < 1e-6 and
// every sharded run by ≤ ~1e-6; outputs are convex combinations of V rows (|V| ≲ 5), and the online
// softmax rescales each row at most (tiles + blocks) times, each contributing a few ulp (~6e-8 × |V|),
// so 1e-5 leaves an order of magnitude of margin without hiding a masking bug (those are ≥ 0.1).
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, STRATEGY_IDS, type Params, type StrategyId } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { generateInputs } from '../model/random.ts';
import { buildExecPlan } from '../model/execution.ts';
import { causalAttention, compare } from '../model/reference.ts';
import { AttentionRunner } from './AttentionRunner.ts';
import { GpuLimitError, kernelsFor } from './kernels.ts';
import { SHADER_SOURCES } from './shaders.ts';
import { getTestGpu, withErrorScopes } from './testing.ts';
import { FP32_TOLERANCE, runVerification, runVerificationCpu } from './verify.ts';

const gpu = await getTestGpu();
const RANKS = [1, 2, 3, 4, 7, 8];
const SMALL_SEQS = [1, 17, 64];

function paramsFor(strategy: StrategyId, ranks: number, seq: number, headDim: number, heads: number, kvHeads: number): Params {
  return { ...DEFAULT_PARAMS, strategy, ranks, seq, execSeq: seq, headDim, heads, kvHeads, ulysses: ranks % 2 === 0 ? 2 : 1, seed: 7 + ranks + seq };
}

/** Whether a strategy can run: its documented constraints (the schedule must agree). */
function expectedValid(p: Params): boolean {
  const headShard = (n: number): boolean => p.heads % n === 0 && (p.kvHeads % n === 0 || n % p.kvHeads === 0);
  if (p.strategy === 'ulysses' || p.strategy === 'megatron-sp') return headShard(p.ranks);
  if (p.strategy === 'usp') return p.ranks % p.ulysses === 0 && headShard(p.ulysses);
  return true;
}

/** Large shapes sampled per strategy so that every seq (250, 1000) and head dim (16, 64, 128) appears. */
function sampledCases(strategy: StrategyId, index: number): Params[] {
  const out: Params[] = [];
  RANKS.forEach((P, i) => {
    const d = [16, 64, 128][(i + index) % 3] as number;
    out.push(paramsFor(strategy, P, 250, d, 4, 2));
  });
  const headShard = strategy === 'ulysses' || strategy === 'megatron-sp';
  // seq 1000 at head dim 128 and 64, two heads (GQA 2:1 where heads allow).
  out.push(paramsFor(strategy, headShard ? 2 : [8, 7, 4, 3, 8, 2, 8][index] as number, 1000, 128, 2, 1));
  out.push(paramsFor(strategy, headShard ? 1 : 3, 1000, 64, 2, 2));
  return out;
}

const summary: Record<string, { runs: number; invalid: number; maxAbs: number; worst: string }> = {};

describe.skipIf(!gpu)('sharded attention on the GPU', () => {
  const device = gpu?.device as GPUDevice;

  it('unsharded flash and naive kernels match the float64 reference at seq 1000, head dim 128', async () => {
    const runner = new AttentionRunner(device, kernelsFor(device, SHADER_SOURCES));
    const inputs = generateInputs(3, 2, 1, 1000, 128);
    const { result, errors } = await withErrorScopes(device, async () => ({ flash: await runner.runUnsharded(inputs), naive: await runner.runUnsharded(inputs, { naive: true }) }));
    expect(errors).toEqual([]);
    const ref = causalAttention(inputs);
    const flash = compare(result.flash.o, ref.o);
    const naive = compare(result.naive.o, ref.o);
    const lse = compare(result.flash.lse as Float32Array, ref.lse);
    console.info(`unsharded vs float64 at s=1000, d=128: flash ${flash.maxAbsError.toExponential(2)}, naive ${naive.maxAbsError.toExponential(2)}, lse ${lse.maxAbsError.toExponential(2)}`);
    expect(flash.maxAbsError).toBeLessThan(FP32_TOLERANCE);
    expect(naive.maxAbsError).toBeLessThan(FP32_TOLERANCE);
    expect(lse.maxAbsError).toBeLessThan(FP32_TOLERANCE);
  });

  it('tiles of 1, 2 and 4 keys (head dim 512 in 16 KiB of workgroup memory) give the same result', async () => {
    const runner = new AttentionRunner(device, kernelsFor(device, SHADER_SOURCES));
    for (const [d, maxStorage, bk] of [[512, 16384, 2], [6, 100, 1], [8, 300, 4]] as const) {
      expect(runner.kernels.block(d, { maxStorage }).tiles.bk).toBe(bk);
      const inputs = generateInputs(d, 2, 1, 37, d);
      const { result, errors } = await withErrorScopes(device, () => runner.runUnsharded(inputs, { tiles: { maxStorage } }));
      expect(errors).toEqual([]);
      expect(compare(result.o, causalAttention(inputs).o).maxAbsError, `d=${d} bk=${bk}`).toBeLessThan(FP32_TOLERANCE);
      // And sharded: striped over 3 ranks with the same small tiles.
      const params = paramsFor('striped', 3, 37, d, 2, 1);
      const plan = buildExecPlan(buildSchedule(params), params);
      const sharded = await runner.run(plan, inputs, { tiles: { maxStorage } });
      expect(compare(sharded.o, causalAttention(inputs).o).maxAbsError, `striped d=${d} bk=${bk}`).toBeLessThan(FP32_TOLERANCE);
    }
  });

  for (const [index, strategy] of STRATEGY_IDS.entries()) {
    it(`${strategy}: matches the CPU reference over P ∈ {1,2,3,4,7,8}, seq ∈ {1,17,64,250,1000}, head dim ∈ {16,64,128}, GQA`, async () => {
      const cases: Params[] = [];
      for (const P of RANKS) for (const seq of SMALL_SEQS) cases.push(paramsFor(strategy, P, seq, 16, 8, 2));
      cases.push(...sampledCases(strategy, index));
      const s = (summary[strategy] = { runs: 0, invalid: 0, maxAbs: 0, worst: '' });
      for (const params of cases) {
        const schedule = buildSchedule(params);
        const label = `${strategy} P=${params.ranks} seq=${params.execSeq} d=${params.headDim} heads=${params.heads}/${params.kvHeads}`;
        expect(schedule.valid, `${label}: ${schedule.valid ? '' : schedule.reason}`).toBe(expectedValid(params));
        if (!schedule.valid) {
          // Its stated reason names the constraint.
          expect(schedule.reason, label).toMatch(/divide|Ulysses degree/);
          s.invalid++;
          continue;
        }
        const v = await runVerification(device, params, schedule, SHADER_SOURCES, { skipUnsharded: params.execSeq < 1000, cpuBudget: 4e8, backward: false });
        expect(v.maxAbsErrorVsCpu, label).toBeLessThan(FP32_TOLERANCE);
        if (params.execSeq >= 1000) expect(v.maxAbsError, `${label} vs unsharded GPU`).toBeLessThan(FP32_TOLERANCE);
        expect(v.cpuRowsChecked, label).toBe(params.execSeq);
        s.runs++;
        if (v.maxAbsErrorVsCpu >= s.maxAbs) {
          s.maxAbs = v.maxAbsErrorVsCpu;
          s.worst = label;
        }
      }
      console.info(`${strategy}: ${s.runs} GPU runs, ${s.invalid} refused with a reason, max |err| vs CPU ${s.maxAbs.toExponential(2)} (${s.worst})`);
    }, 900_000);
  }

  it('the local-mask switch gives a large error; Ulysses and Megatron SP are immune (local = global order there)', async () => {
    for (const strategy of STRATEGY_IDS) {
      const params = { ...paramsFor(strategy, 4, 64, 16, 4, 2), localMask: true };
      const schedule = buildSchedule(params);
      const v = await runVerification(device, params, schedule, SHADER_SOURCES, { backward: false });
      // The GPU's buggy result is the CPU executor's buggy result: the switch is the same bug on both.
      const cpu = runVerificationCpu(params, schedule);
      expect(compare(v.output, cpu.output).maxAbsError, strategy).toBeLessThan(FP32_TOLERANCE);
      console.info(`local mask, ${strategy} P=4 seq=64: max |err| = ${v.maxAbsError.toFixed(3)}`);
      if (strategy === 'ulysses' || strategy === 'megatron-sp') expect(v.maxAbsError, strategy).toBeLessThan(FP32_TOLERANCE);
      else expect(v.maxAbsError, strategy).toBeGreaterThan(0.1);
    }
  }, 300_000);

  it('exposes the softmax merge of one row and the per-rank buffers, consistent with the CPU executor', async () => {
    const params = paramsFor('ring', 4, 64, 16, 4, 2);
    const schedule = buildSchedule(params);
    const v = await runVerification(device, params, schedule, SHADER_SOURCES);
    const cpu = runVerificationCpu(params, schedule);
    const trace = v.softmaxTrace;
    expect(trace?.rank).toBe(3);
    expect(trace?.token).toBe(63);
    expect(trace?.points.length).toBe(4); // the last rank's queries see all 4 K/V blocks
    trace?.points.forEach((p, i) => {
      const c = cpu.softmaxTrace?.points[i];
      expect(p.step).toBe(c?.step);
      expect(Math.abs(p.m - (c?.m ?? NaN))).toBeLessThan(1e-5);
      expect(Math.abs(p.l - (c?.l ?? NaN)) / (c?.l ?? 1)).toBeLessThan(1e-5);
      if (i > 0) expect(p.m).toBeGreaterThanOrEqual((trace.points[i - 1]?.m ?? 0) - 1e-6);
    });
    expect(v.rankBuffers.length).toBe(schedule.valid ? schedule.steps.filter((s) => s.phase === 'forward').length : 0);
    for (const step of v.rankBuffers) {
      expect(step.length).toBe(4);
      for (const held of step) for (const b of held) expect(b.bytes).toBeGreaterThan(0);
    }
    // Ring: in step 1 every rank but the first holds a received K block (the one from rank r − 1).
    expect(v.rankBuffers[1]?.[1]?.some((b) => b.tensor === 'K' && b.role === 'received')).toBe(true);
  });

  it('refuses an executed size above the device limits with a clear message, before any GPU work', async () => {
    const adapter = await gpu?.gpu.requestAdapter();
    if (!adapter) throw new Error('no second adapter');
    const small = await adapter.requestDevice({ label: 'test.defaultLimitsDevice' }); // default limits: 128 MiB bindings
    const params: Params = { ...DEFAULT_PARAMS, strategy: 'ring', ranks: 8, execSeq: 16384, seq: 16384, heads: 32, kvHeads: 8, headDim: 128 };
    const schedule = buildSchedule(params);
    const { errors } = await withErrorScopes(small, async () => {
      await expect(runVerification(small, params, schedule, SHADER_SOURCES)).rejects.toThrow(GpuLimitError);
      await expect(runVerification(small, params, schedule, SHADER_SOURCES)).rejects.toThrow(/Lower the executed sequence length/);
    });
    expect(errors).toEqual([]);
    small.destroy();
  });
});
