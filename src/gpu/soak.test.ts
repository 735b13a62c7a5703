// 200 verifications with changing params on one device: validation scopes stay empty and every
// buffer created is destroyed (no leak across runs).
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, STRATEGY_IDS, type Params } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { bufferStats } from './buffers.ts';
import { SHADER_SOURCES } from './shaders.ts';
import { getTestGpu, withErrorScopes } from './testing.ts';
import { FP32_TOLERANCE, runVerification } from './verify.ts';
import { RunCancelled } from './AttentionRunner.ts';

const gpu = await getTestGpu();

describe.skipIf(!gpu)('soak', () => {
  it('200 runs with changing params: no validation errors, no leaked buffers', async () => {
    const device = gpu?.device as GPUDevice;
    const before = bufferStats(device);
    let runs = 0;
    let refused = 0;
    const { errors } = await withErrorScopes(device, async () => {
      for (let i = 0; i < 200; i++) {
        const strategy = STRATEGY_IDS[i % STRATEGY_IDS.length] ?? 'ring';
        const ranks = [1, 2, 3, 4, 8][i % 5] as number;
        const params: Params = {
          ...DEFAULT_PARAMS,
          strategy,
          ranks,
          ulysses: ranks % 2 === 0 ? 2 : 1,
          heads: 4,
          kvHeads: i % 3 === 0 ? 4 : 2,
          headDim: i % 2 === 0 ? 8 : 16,
          execSeq: 5 + ((i * 7) % 40),
          seq: 5 + ((i * 7) % 40),
          seed: i,
          localMask: i % 11 === 0,
        };
        const schedule = buildSchedule(params);
        if (!schedule.valid) {
          refused++;
          continue;
        }
        const v = await runVerification(device, params, schedule, SHADER_SOURCES, { backward: i % 4 === 0 });
        if (i % 4 === 0 && !params.localMask) expect(v.backward?.relativeError ?? Infinity, `backward of run ${i}`).toBeLessThan(1e-4);
        if (!params.localMask) expect(v.maxAbsError).toBeLessThan(FP32_TOLERANCE);
        runs++;
        const now = bufferStats(device);
        expect(now.live, `after run ${i}`).toBe(before.live);
      }
    });
    expect(errors).toEqual([]);
    const after = bufferStats(device);
    console.info(`soak: ${runs} runs (${refused} refused with a reason), ${after.created - before.created} buffers created, ${after.destroyed - before.destroyed} destroyed`);
    expect(runs + refused).toBe(200);
    expect(after.created - before.created).toBeGreaterThan(runs);
    expect(after.created - before.created).toBe(after.destroyed - before.destroyed);
  }, 600_000);

  /**
   * What the verification worker does when newer params arrive: cancelled() turns true once
   * `cancelAfter(step)` says so. Returns the submitted steps; checks the run threw RunCancelled,
   * raised no WebGPU error and left no buffer alive.
   */
  async function cancelledRun(params: Params, cancelAfter: (step: number, submitted: readonly number[]) => boolean): Promise<number[]> {
    const device = gpu?.device as GPUDevice;
    const schedule = buildSchedule(params);
    const before = bufferStats(device);
    const submitted: number[] = [];
    let stop = false;
    const { errors } = await withErrorScopes(device, async () => {
      await expect(
        runVerification(device, params, schedule, SHADER_SOURCES, {
          backward: true,
          cancelled: () => stop,
          afterSubmit: async (step) => {
            submitted.push(step);
            if (cancelAfter(step, submitted)) stop = true;
          },
        }),
      ).rejects.toBeInstanceOf(RunCancelled);
    });
    expect(errors).toEqual([]);
    expect(bufferStats(device).live).toBe(before.live);
    return submitted;
  }

  it('a cancelled run stops submitting at the next step, throws RunCancelled and frees its buffers', async () => {
    const params: Params = { ...DEFAULT_PARAMS, strategy: 'zigzag', ranks: 8, heads: 2, kvHeads: 2, headDim: 16, execSeq: 64, seq: 64 };
    const schedule = buildSchedule(params);
    expect(schedule.valid && schedule.steps.length).toBeGreaterThan(10);
    // Cancelled after the third step's submission: steps 4.. are never submitted.
    expect(await cancelledRun(params, (_, submitted) => submitted.length === 3)).toEqual([0, 1, 2]);
  });

  it('a run cancelled in its backward stops there too: nothing after the cancelling step is submitted', async () => {
    const params: Params = { ...DEFAULT_PARAMS, strategy: 'ring', ranks: 4, heads: 2, kvHeads: 2, headDim: 16, execSeq: 64, seq: 64 };
    const schedule = buildSchedule(params);
    if (!schedule.valid) throw new Error(schedule.reason);
    const backwardSteps = schedule.steps.filter((s) => s.phase === 'backward').map((s) => s.index);
    expect(backwardSteps.length).toBeGreaterThan(2);
    const cancelAt = backwardSteps[1] as number;
    const submitted = await cancelledRun(params, (step) => step === cancelAt);
    // Every forward step, then the backward up to the one after which the cancel came.
    expect(submitted.at(-1)).toBe(cancelAt);
    expect(submitted.filter((s) => backwardSteps.includes(s))).toEqual(backwardSteps.slice(0, 2));
  });
});
