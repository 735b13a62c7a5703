// The verification worker: everything of the sharded-attention check that is not drawing happens
// here, off the page's main thread: the execution plan (100–350 ms at 64 ranks), the seeded inputs,
// the budget clamp, the GPU run (on the worker's own GPUDevice) or the CPU fallback, and the float64
// reference. The page posts { version, params } on every change; only the latest request is run
// (older pending ones are dropped), a running one stops submitting dispatches as soon as a newer
// version arrives, and every reply carries the version it belongs to.

import type { Params } from '../model/params.ts';
import { requestGpu } from '../gpu/device.ts';
import { RunCancelled } from '../gpu/AttentionRunner.ts';
import { runVerification, runVerificationCpu, type Verification } from '../gpu/verify.ts';
import { kernelsFor } from '../gpu/kernels.ts';
import { SHADER_SOURCES } from '../gpu/shaders.ts';
import { CPU_BUDGET, NO_PADDING, assumedRates, chooseExecution, describeBudget, fitGpuRates, gpuBudget, runTimings, type Clamp, type ExecutionBudget, type ExecutionPrice, type GpuTimeRates, type PartTiming } from './executionBudget.ts';

export type VerificationSummary = Omit<Verification, 'rankBuffers' | 'output'>;

export type WorkerRequest = { readonly type: 'run'; readonly version: number; readonly params: Params };

export interface ExecutedSize {
  readonly execSeq: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly ranks: number;
  readonly price: ExecutionPrice | null;
  /** The run's GPU time at the budget's rates when it started (null on the CPU). */
  readonly estimatedGpuMs?: number | null;
  /** False when the budget dropped the backward pass. */
  readonly backward?: boolean;
}

export type WorkerReply =
  | { readonly type: 'started'; readonly version: number; readonly backend: 'gpu' | 'cpu'; readonly adapter: string; readonly budget: ExecutionBudget; readonly budgetText: string; readonly executed: ExecutedSize; readonly clamps: Clamp[] }
  | {
      readonly type: 'result';
      readonly version: number;
      readonly result: VerificationSummary;
      readonly workerMs: number;
      /** The budget after this run's timings were fitted (its measured rates), when it changed. */
      readonly budget?: ExecutionBudget;
      readonly budgetText?: string;
      /** This run's timed parts (priced work and dispatches, milliseconds taken). */
      readonly timings?: PartTiming[];
    }
  | { readonly type: 'error'; readonly version: number; readonly message: string }
  | { readonly type: 'cancelled'; readonly version: number; readonly atStep: string };

interface WorkerScope {
  postMessage(message: WorkerReply): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
}
const scope = self as unknown as WorkerScope;

let latest = -1;
let pending: WorkerRequest | null = null;
let busy = false;
let device: GPUDevice | null = null;
let adapterName = '';
/** A software adapter (SwiftShader): its first run is priced at a software renderer's assumed rates. */
let softwareAdapter = false;
let gpuUnavailable = false;
/** Timed parts of the latest completed runs on this device, newest last (the fit's data). */
let timings: PartTiming[] = [];
/** The last TIMINGS_KEPT are fitted: about 8 runs of 4 parts, so a changed load shows within a few runs. */
const TIMINGS_KEPT = 32;
/** The GPU-time rates fitted to `timings`, or null until the first run has completed. */
let rates: (GpuTimeRates & { readonly timedParts: number }) | null = null;

async function gpuDevice(): Promise<GPUDevice | null> {
  if (device || gpuUnavailable) return device;
  const gpu = await requestGpu();
  if (!gpu.ok) {
    gpuUnavailable = true;
    return null;
  }
  const next = gpu.device;
  adapterName = gpu.adapterName;
  softwareAdapter = (gpu.adapter.info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
  device = next;
  timings = [];
  rates = null;
  void next.lost.then(() => {
    if (device === next) device = null; // the next run requests a fresh one
  });
  return next;
}

/** Dispatches submitted between two waits for the queue (see afterSubmit below). */
const PACE_DISPATCHES = 128;

/** A macrotask: lets a newer request's message in between two step submissions. */
const yieldTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

async function run(request: WorkerRequest): Promise<void> {
  const { version } = request;
  const stale = (): boolean => latest !== version;
  const t0 = performance.now();
  try {
    const dev = await gpuDevice();
    const budget = dev ? gpuBudget(dev.limits, rates, softwareAdapter) : CPU_BUDGET;
    // The kernel's tiling prices the padding of small shards (compiles the pipeline once per head dim).
    const tiles = dev ? kernelsFor(dev, SHADER_SOURCES).block(request.params.headDim).tiles : NO_PADDING;
    const chosen = chooseExecution(request.params, budget, tiles);
    if (stale()) return;
    const { params } = chosen;
    scope.postMessage({
      type: 'started',
      version,
      backend: budget.backend,
      adapter: adapterName,
      budget,
      budgetText: describeBudget(budget),
      executed: { execSeq: params.execSeq, heads: params.heads, kvHeads: params.kvHeads, headDim: params.headDim, ranks: params.ranks, price: chosen.price, estimatedGpuMs: chosen.estimatedGpuMs, backward: chosen.runBackward },
      clamps: chosen.clamps,
    });
    if (!chosen.schedule.valid) throw new Error(chosen.schedule.reason);
    const plan = chosen.plan ?? undefined;
    let verification: Verification;
    let measured: Pick<Extract<WorkerReply, { type: 'result' }>, 'budget' | 'budgetText' | 'timings'> = {};
    if (dev) {
      const started = performance.now();
      let waitedAt = 0;
      verification = await runVerification(dev, params, chosen.schedule, undefined, {
        backward: chosen.runBackward,
        ...(plan ? { plan } : {}),
        cancelled: stale,
        // At most PACE_DISPATCHES (plus one step) in the queue: the scene's frames interleave with
        // the run, and a cancelled run leaves at most that much work behind. Waiting after every
        // step instead cost a queue round trip per step (~0.4 s each on SwiftShader).
        afterSubmit: async (_step, dispatched) => {
          if (dispatched - waitedAt < PACE_DISPATCHES) return;
          waitedAt = dispatched;
          await dev.queue.onSubmittedWorkDone();
          await yieldTask();
        },
      });
      const wallMs = performance.now() - started;
      const dropped = chosen.clamps.find((c) => c.field === 'backward');
      if (dropped) verification = { ...verification, backwardError: `the execution budget dropped the backward check (${dropped.over}); fewer ranks or a faster adapter run it.` };
      const timed = chosen.price ? runTimings(verification, chosen.price, wallMs) : [];
      if (timed.length) {
        timings = [...timings, ...timed].slice(-TIMINGS_KEPT);
        rates = fitGpuRates(timings, rates ?? assumedRates(softwareAdapter)) ?? rates;
        const next = gpuBudget(dev.limits, rates, softwareAdapter);
        measured = { budget: next, budgetText: describeBudget(next), timings: timed };
      }
    } else {
      verification = runVerificationCpu(params, chosen.schedule, plan ? { plan } : {});
    }
    if (stale()) return;
    const { rankBuffers: _held, output: _output, ...summary } = verification;
    scope.postMessage({ type: 'result', version, result: summary, workerMs: performance.now() - t0, ...measured });
  } catch (error) {
    if (error instanceof RunCancelled) {
      scope.postMessage({ type: 'cancelled', version, atStep: error.message });
      return;
    }
    if (!stale()) scope.postMessage({ type: 'error', version, message: error instanceof Error ? error.message : String(error) });
  }
}

async function pump(): Promise<void> {
  busy = true;
  while (pending) {
    const next = pending;
    pending = null;
    await run(next);
  }
  busy = false;
}

scope.onmessage = (event) => {
  const request = event.data;
  if (request.type !== 'run') return;
  latest = request.version;
  pending = request; // replaces an older request that has not started
  if (!busy) void pump();
};
