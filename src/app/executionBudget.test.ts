// The execution budget: a hostile size is clamped (execSeq first, then heads) to a run whose price
// is under every budget line, before anything is allocated; a fitting request is left alone.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, type Params } from '../model/params.ts';
import { ASSUMED_SOFTWARE_GPU_FLOP_PER_MS, CPU_BUDGET, MAX_GPU_MS, chooseExecution, gpuBudget, overBudget, priceExecution, type ExecutionBudget } from './executionBudget.ts';
import { buildExecPlan } from '../model/execution.ts';
import { buildSchedule } from '../model/strategies/index.ts';

// SwiftShader's limits in Chromium (maxStorageBufferBindingSize 128 MiB, maxBufferSize 256 MiB).
const SWIFTSHADER = { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28 };
const TILES = { wgQ: 64, bk: 32 };

const params = (change: Partial<Params>): Params => ({ ...DEFAULT_PARAMS, ...change });

describe('execution budget', () => {
  it('leaves the default run alone on an unmeasured GPU', () => {
    const chosen = chooseExecution(params({}), gpuBudget(SWIFTSHADER, null), TILES);
    expect(chosen.clamps).toEqual([]);
    expect(chosen.params.execSeq).toBe(DEFAULT_PARAMS.execSeq);
  });

  it('clamps the default run on an unmeasured software adapter to its stated GPU time', () => {
    const budget = gpuBudget(SWIFTSHADER, null, true);
    expect(budget.flopPerMs).toBe(ASSUMED_SOFTWARE_GPU_FLOP_PER_MS);
    const chosen = chooseExecution(params({}), budget, TILES);
    expect(chosen.clamps.length).toBeGreaterThan(0);
    expect(chosen.params.execSeq).toBeLessThan(DEFAULT_PARAMS.execSeq);
    expect(overBudget(chosen.price!, budget)).toBeNull();
    expect(chosen.price!.work / budget.flopPerMs!).toBeLessThanOrEqual(MAX_GPU_MS);
  });

  it('clamps the 16K × 32 heads × 512 link at 64 ranks to a run under every budget line, naming the fields', () => {
    const budget = gpuBudget(SWIFTSHADER, null);
    const asked = params({ strategy: 'zigzag', ranks: 64, heads: 32, kvHeads: 8, headDim: 512, execSeq: 16384 });
    const chosen = chooseExecution(asked, budget, TILES);
    expect(chosen.clamps[0]?.field).toBe('execSeq');
    expect(chosen.clamps[0]?.requested).toBe(16384);
    expect(chosen.params.execSeq).toBeLessThan(16384);
    expect(chosen.params.execSeq % 128).toBe(0);
    // At 64 ranks 4096 block dispatches each run whole workgroups: fewer tokens alone cannot fit.
    expect(chosen.clamps.map((c) => c.field)).toContain('heads');
    expect(chosen.price).not.toBeNull();
    expect(overBudget(chosen.price!, budget)).toBeNull();
    // What the unclamped run would have cost: gigabytes (priced from a 512-token plan, scaled).
    const small = buildExecPlan(buildSchedule({ ...asked, seq: 512, execSeq: 512 }), asked);
    const full = priceExecution(small, 'gpu', TILES, { seq: 16384, heads: 32, kvHeads: 8, headDim: 512 });
    expect(full.deviceBytes).toBeGreaterThan(2 ** 30);
  });

  it('halves heads and K/V heads together when the smallest execSeq is still over', () => {
    const tight: ExecutionBudget = { ...gpuBudget(SWIFTSHADER, null), maxWork: 2e8 };
    const chosen = chooseExecution(params({ strategy: 'ring', ranks: 8, heads: 32, kvHeads: 8, execSeq: 16 }), tight, TILES);
    const fields = chosen.clamps.map((c) => c.field);
    expect(fields).toContain('heads');
    expect(chosen.params.heads % chosen.params.kvHeads).toBe(0);
    expect(overBudget(chosen.price!, tight)).toBeNull();
  });

  it('limits are exclusive: a price exactly at a limit is over', () => {
    const budget = gpuBudget(SWIFTSHADER, null);
    const at = { deviceBytes: budget.maxDeviceBytes, hostBytes: 1, work: 1, dispatches: 1 };
    expect(overBudget(at, budget)).toMatch(/GPU memory/);
    expect(overBudget({ ...at, deviceBytes: budget.maxDeviceBytes - 1 }, budget)).toBeNull();
  });

  it('the CPU fallback has a much smaller budget and clamps sooner', () => {
    expect(CPU_BUDGET.maxWork).toBeLessThan(gpuBudget(SWIFTSHADER, null).maxWork);
    const chosen = chooseExecution(params({ execSeq: 4096 }), CPU_BUDGET);
    expect(chosen.clamps[0]?.field).toBe('execSeq');
    expect(overBudget(chosen.price!, CPU_BUDGET)).toBeNull();
  });

  it('a measured speed sets the work line: maxWork = speed × the GPU-ms cap', () => {
    const b = gpuBudget(SWIFTSHADER, 1e6);
    expect(b.measured).toBe(true);
    expect(b.maxWork).toBe(1e6 * (b.maxGpuMs ?? 0));
  });
});
