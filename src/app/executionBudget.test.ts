// The execution budget: a hostile size is clamped (execSeq first, then heads) to a run whose price
// is under every budget line, before anything is allocated; a fitting request is left alone.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, type Params } from '../model/params.ts';
import {
  ASSUMED_SOFTWARE_GPU_FLOP_PER_MS,
  ASSUMED_SOFTWARE_GPU_MS_PER_DISPATCH,
  CPU_BUDGET,
  MAX_DISPATCHES,
  MAX_GPU_MS,
  MIN_FITTED_MS_PER_DISPATCH,
  assumedRates,
  chooseExecution,
  describeBudget,
  estimateGpuMs,
  fitGpuRates,
  gpuBudget,
  overBudget,
  priceExecution,
  runTimings,
  type ExecutionBudget,
  type PartTiming,
} from './executionBudget.ts';
import { clampMessage } from './verification.ts';
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
    expect(chosen.runBackward).toBe(true); // a smaller size keeps the backward when one fits
    expect(chosen.estimatedGpuMs).toBeLessThanOrEqual(MAX_GPU_MS);
    expect(estimateGpuMs(chosen.price!.parts, assumedRates(true))).toBe(chosen.estimatedGpuMs);
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
    // 2e7 FLOP per ms of 10 s and no dispatch latency: ≈ 2e8 FLOPs per run.
    const tight: ExecutionBudget = gpuBudget(SWIFTSHADER, { flopPerMs: 2e4, msPerDispatch: 1e-3 });
    const chosen = chooseExecution(params({ strategy: 'ring', ranks: 8, heads: 32, kvHeads: 8, execSeq: 16 }), tight, TILES);
    const fields = chosen.clamps.map((c) => c.field);
    expect(fields).toContain('heads');
    expect(chosen.params.heads % chosen.params.kvHeads).toBe(0);
    expect(overBudget(chosen.price!, tight)).toBeNull();
  });

  it('limits are exclusive: a price exactly at a limit is over', () => {
    const budget = gpuBudget(SWIFTSHADER, null);
    const at = { deviceBytes: budget.maxDeviceBytes, hostBytes: 1, work: 1, dispatches: 1, parts: [] };
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
    const b = gpuBudget(SWIFTSHADER, { flopPerMs: 1e6, msPerDispatch: 0.05 });
    expect(b.measured).toBe(true);
    expect(b.maxWork).toBe(1e6 * (b.maxGpuMs ?? 0));
  });

  it('the time and dispatch caps are inclusive and named with the estimate', () => {
    const budget = gpuBudget(SWIFTSHADER, { flopPerMs: 1e6, msPerDispatch: 1 });
    const price = (work: number, dispatches: number) => ({ deviceBytes: 1, hostBytes: 1, work, dispatches, parts: [{ part: 'sharded forward' as const, work, dispatches }] });
    expect(overBudget(price(5e9, 5000), budget)).toBeNull(); // 5 s + 5 s: exactly the cap
    expect(overBudget(price(5e9, 5001), budget)).toBe('estimated GPU time 10.0 s > 10.0 s on this adapter');
    expect(overBudget(price(1, MAX_DISPATCHES + 1), gpuBudget(SWIFTSHADER, { flopPerMs: 1e9, msPerDispatch: 1e-3 }))).toBe(`20,001 dispatches > 20,000`);
  });
});

describe('GPU-time model', () => {
  const rates = { flopPerMs: 2e5, msPerDispatch: 0.8 };
  /** Timings as the parts of one run report them: made exactly by `rates`, times `noise`. */
  const timed = (work: number, dispatches: number, noise = 1): PartTiming => ({ work, dispatches, ms: (work / rates.flopPerMs + dispatches * rates.msPerDispatch) * noise });

  it('estimates ms = work / flopPerMs + dispatches × msPerDispatch over the parts', () => {
    expect(estimateGpuMs([{ work: 2e8, dispatches: 100 }, { work: 2e7, dispatches: 1 }], rates)).toBeCloseTo(1000 + 80 + 100 + 0.8, 9);
  });

  it('the fit recovers both rates from parts with different dispatches per FLOP', () => {
    const fit = fitGpuRates([timed(1.3e8, 272), timed(5e5, 1), timed(4.7e8, 752), timed(2e6, 2), timed(3.4e7, 6), timed(2.1e7, 1)], assumedRates(true));
    expect(fit?.flopPerMs).toBeCloseTo(rates.flopPerMs, -2);
    expect(fit?.msPerDispatch).toBeCloseTo(rates.msPerDispatch, 6);
    expect(fit?.timedParts).toBe(6);
  });

  it('the fit tolerates noise: ±30 % per part keeps both rates within 2×', () => {
    const noisy = [timed(1.3e8, 272, 1.3), timed(5e5, 1, 0.7), timed(4.7e8, 752, 0.8), timed(2e6, 2, 1.3), timed(3.4e7, 6, 0.7), timed(2.1e7, 1, 1.2), timed(5.4e8, 4160, 1.3), timed(1.9e9, 12224, 0.75)];
    const fit = fitGpuRates(noisy, assumedRates(true))!;
    expect(fit.flopPerMs / rates.flopPerMs).toBeGreaterThan(0.5);
    expect(fit.flopPerMs / rates.flopPerMs).toBeLessThan(2);
    expect(fit.msPerDispatch / rates.msPerDispatch).toBeGreaterThan(0.5);
    expect(fit.msPerDispatch / rates.msPerDispatch).toBeLessThan(2);
  });

  it('one timing, collinear ones, or ones that put a rate past its bound scale the prior instead', () => {
    const prior = { flopPerMs: 1e5, msPerDispatch: 1 };
    const one = fitGpuRates([{ work: 1e8, dispatches: 1000, ms: 1000 }], prior)!; // prior predicts 2000 ms: twice as fast
    expect(one.flopPerMs).toBeCloseTo(2e5, 6);
    expect(one.msPerDispatch).toBeCloseTo(0.5, 9);
    const collinear = fitGpuRates([{ work: 1e8, dispatches: 1000, ms: 1000 }, { work: 2e8, dispatches: 2000, ms: 2000 }], prior)!;
    expect(collinear.msPerDispatch).toBeCloseTo(0.5, 9);
    // Timings where more dispatches took less time: the free fit's msPerDispatch is negative.
    const timings = [{ work: 1e8, dispatches: 1, ms: 1000 }, { work: 1e6, dispatches: 100, ms: 5 }];
    const scaled = fitGpuRates(timings, prior)!;
    expect(scaled.msPerDispatch).toBeGreaterThan(MIN_FITTED_MS_PER_DISPATCH);
    expect(scaled.flopPerMs * scaled.msPerDispatch).toBeCloseTo(prior.flopPerMs * prior.msPerDispatch, 3); // the prior's ratio, kept
    expect(fitGpuRates([{ work: 1, dispatches: 1, ms: 0 }, { work: NaN, dispatches: 1, ms: 5 }], prior)).toBeNull();
  });

  it("a run's timed parts: each part's price with the dispatches it made, or the whole run's wall time without timestamps", () => {
    const plan = buildExecPlan(buildSchedule(params({ strategy: 'zigzag', ranks: 4, execSeq: 64, seq: 64 })), DEFAULT_PARAMS);
    const price = priceExecution(plan, 'gpu', TILES);
    expect(price.parts.map((p) => p.part)).toEqual(['sharded forward', 'unsharded forward', 'sharded backward', 'unsharded backward']);
    const run = { gpuMs: 30, unshardedGpuMs: 2, dispatches: price.parts[0]!.dispatches, backward: { gpuMs: 60, unshardedGpuMs: 5, dispatches: price.parts[2]!.dispatches } };
    expect(runTimings(run, price, 500).map((t) => t.ms)).toEqual([30, 2, 60, 5]);
    const untimed = runTimings({ ...run, gpuMs: null, unshardedGpuMs: null, backward: null }, price, 500);
    expect(untimed).toEqual([{ part: 'whole run', work: price.work, dispatches: price.dispatches, ms: 500 }]);
    // Without the backward: two parts, a third of the dispatches.
    expect(priceExecution(plan, 'gpu', TILES, undefined, false).parts).toHaveLength(2);
  });
});

describe('the budget prices dispatch latency', () => {
  // The smallest execSeq at 64 ranks (2 tokens a rank): building its plan is the slow part of these tests.
  const zigzag64 = params({ strategy: 'zigzag', ranks: 64, execSeq: 128 });
  const software = gpuBudget(SWIFTSHADER, null, true);
  const fast = gpuBudget(SWIFTSHADER, { flopPerMs: 1e8, msPerDispatch: 0.01, timedParts: 4 });

  it('a 64-rank zigzag on software rates loses its backward (its dispatches alone are over 10 s) and says so', () => {
    expect(software.msPerDispatch).toBe(ASSUMED_SOFTWARE_GPU_MS_PER_DISPATCH);
    const chosen = chooseExecution(zigzag64, software, TILES);
    expect(chosen.runBackward).toBe(false);
    const fields = chosen.clamps.map((c) => c.field);
    expect(fields).toContain('backward');
    expect(chosen.estimatedGpuMs).toBeLessThanOrEqual(MAX_GPU_MS);
    expect(overBudget(chosen.price!, software)).toBeNull();
    expect(chosen.price!.parts.map((p) => p.part)).toEqual(['sharded forward', 'unsharded forward']);
    // With the backward, its dispatches' latency alone (16,387 at 1 ms) is over the 10 s: no size fits.
    const withBackward = priceExecution(chosen.plan!, 'gpu', TILES);
    expect(withBackward.dispatches * software.msPerDispatch!).toBeGreaterThan(MAX_GPU_MS);
    const over = chosen.clamps.find((c) => c.field === 'backward')!.over;
    expect(over).toMatch(/^estimated GPU time \d+(\.\d)? s > 10\.0 s on this adapter$/);
    const text = clampMessage(chosen.clamps, { ...chosen.params, price: chosen.price });
    expect(text).toContain(`the forward pass only (${over})`);
    expect(text).toMatch(/^The attention check is over this adapter's execution budget, so it runs .*, on 64 ranks × \d+ tokens × \d+ heads × \d+\.$/);
    expect(text.split('. ').length).toBe(1); // one sentence
  });

  it('the same request on a fast adapter runs as asked, backward included', () => {
    const chosen = chooseExecution(zigzag64, fast, TILES);
    expect(chosen.clamps).toEqual([]);
    expect(chosen.runBackward).toBe(true);
    expect(chosen.params.execSeq).toBe(zigzag64.execSeq);
    expect(chosen.estimatedGpuMs).toBeLessThanOrEqual(MAX_GPU_MS);
  });

  it('a dispatch-bound adapter shrinks nothing it need not: a small run keeps its size and backward', () => {
    const chosen = chooseExecution(params({ strategy: 'ring', ranks: 4, heads: 2, kvHeads: 2, headDim: 16, execSeq: 64 }), software, TILES);
    expect(chosen.clamps).toEqual([]);
    expect(chosen.runBackward).toBe(true);
  });

  it('when not even the forward alone fits, the error names the cap and the dispatches', () => {
    const crawling = gpuBudget(SWIFTSHADER, { flopPerMs: 1e5, msPerDispatch: 5 });
    expect(() => chooseExecution(zigzag64, crawling, TILES)).toThrow(/forward pass alone .*estimated GPU time .* > 10\.0 s on this adapter, 4,161 dispatches at .*; use fewer ranks\./);
  });

  it('describeBudget states both caps and the rates, and where they come from', () => {
    expect(describeBudget(software)).toBe(
      'GPU budget per run: 10.0 s of estimated GPU time and 20,000 dispatches, at 0.10 GFLOP/s and 1.0 ms per dispatch assumed for a software adapter until the first run measures them; 268 MB of GPU memory, 201 MB of page memory.',
    );
    expect(describeBudget(fast)).toContain('at 100.00 GFLOP/s and 10 µs per dispatch measured on this adapter (fitted to 4 timed parts of completed runs)');
  });
});
