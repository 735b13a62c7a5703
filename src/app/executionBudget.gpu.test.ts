// The GPU-time model measured on a real adapter (Dawn on SwiftShader here): the verification
// worker's path (price → run → timed parts → fit) on two runs whose parts span dispatch-heavy
// (16-rank zigzag of 4-token shards) and FLOP-heavy (2-rank ring, 256 tokens, head dim 64). The
// fitted flopPerMs and msPerDispatch must be positive and finite, and explain the runs' total time.
// The fitted rates are printed: they are where ASSUMED_SOFTWARE_* in executionBudget.ts come from.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, type Params } from '../model/params.ts';
import { getTestGpu } from '../gpu/testing.ts';
import { kernelsFor } from '../gpu/kernels.ts';
import { SHADER_SOURCES } from '../gpu/shaders.ts';
import { runVerification } from '../gpu/verify.ts';
import { assumedRates, chooseExecution, describeRates, estimateGpuMs, fitGpuRates, gpuBudget, runTimings, type PartTiming } from './executionBudget.ts';

const gpu = await getTestGpu();

const RUNS: Partial<Params>[] = [
  { strategy: 'zigzag', ranks: 16, heads: 2, kvHeads: 2, headDim: 16, execSeq: 64 },
  { strategy: 'ring', ranks: 2, heads: 2, kvHeads: 2, headDim: 64, execSeq: 256 },
];

describe.skipIf(!gpu)('GPU-time model on this adapter', () => {
  it('fits positive, finite flopPerMs and msPerDispatch to the timed parts of completed runs', async () => {
    const device = gpu?.device as GPUDevice;
    const software = (gpu?.adapter.info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
    const timings: PartTiming[] = [];
    for (const change of RUNS) {
      const requested: Params = { ...DEFAULT_PARAMS, ...change, seq: change.execSeq ?? DEFAULT_PARAMS.execSeq };
      const tiles = kernelsFor(device, SHADER_SOURCES).block(requested.headDim).tiles;
      // Assumed rates, as the worker's first run: these small runs fit them unclamped.
      const chosen = chooseExecution(requested, gpuBudget(device.limits, null, software), tiles);
      expect(chosen.clamps).toEqual([]);
      const t0 = performance.now();
      const v = await runVerification(device, chosen.params, chosen.schedule, SHADER_SOURCES, { backward: chosen.runBackward, ...(chosen.plan ? { plan: chosen.plan } : {}) });
      const timed = runTimings(v, chosen.price!, performance.now() - t0);
      expect(timed.length).toBeGreaterThan(0);
      timings.push(...timed);
    }
    const fitted = fitGpuRates(timings, assumedRates(software));
    expect(fitted).not.toBeNull();
    const { flopPerMs, msPerDispatch } = fitted!;
    for (const rate of [flopPerMs, msPerDispatch]) {
      expect(Number.isFinite(rate)).toBe(true);
      expect(rate).toBeGreaterThan(0);
    }
    const measured = timings.reduce((n, t) => n + t.ms, 0);
    const predicted = estimateGpuMs(timings, fitted!);
    console.info(
      `GPU-time model on ${gpu?.adapterName}: ${describeRates(fitted!)} (flopPerMs ${flopPerMs.toExponential(3)}, msPerDispatch ${msPerDispatch.toFixed(3)}), ` +
        `fitted to ${timings.length} parts: ${timings.map((t) => `${t.part} ${t.dispatches} dispatches ${(t.work / 1e6).toFixed(1)} MFLOP ${t.ms.toFixed(0)} ms`).join('; ')}; ` +
        `total ${measured.toFixed(0)} ms measured, ${predicted.toFixed(0)} ms predicted`,
    );
    // Two parameters against ≥ 4 parts of very different dispatches per FLOP: the total is explained within 2×.
    expect(predicted / measured).toBeGreaterThan(0.5);
    expect(predicted / measured).toBeLessThan(2);
  }, 300_000);
});
