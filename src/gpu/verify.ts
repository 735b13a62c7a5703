// The verification the page (and the CLI, and the tests) run: execute the strategy's schedule rank by
// rank on the GPU, merge the per-rank outputs into global order, and compare them with the unsharded
// GPU reference (the same flash-style maths in one dispatch) and with the CPU reference (float64).
// runVerificationCpu does the same on the CPU for browsers without WebGPU.

import type { Params, StrategyId } from '../model/params.ts';
import type { Schedule } from '../model/schedule.ts';
import type { ExecPlan, HeldBuffer } from '../model/execution.ts';
import { buildExecPlan, heldBuffers } from '../model/execution.ts';
import type { AttentionInputs } from '../model/random.ts';
import { generateInputs } from '../model/random.ts';
import type { SoftmaxTrace } from '../model/reference.ts';
import { causalAttention, compare, executePlanCpu, referenceRows } from '../model/reference.ts';
import { AttentionRunner, RunCancelled, type RunOptions } from './AttentionRunner.ts';
import { kernelsFor } from './kernels.ts';
import type { ShaderSources } from './sources.ts';

export type { HeldBuffer, SoftmaxTrace };

export interface Verification {
  readonly strategy: StrategyId;
  readonly ranks: number;
  /** The EXECUTED sequence length (params.execSeq), not the modelled one. */
  readonly seqLen: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** max |sharded − reference| over every element: the unsharded GPU run (gpu), the CPU reference (cpu). */
  readonly maxAbsError: number;
  /** max |sharded − reference| / max(|reference|, 1e-3). */
  readonly maxRelError: number;
  /** GPU time of the sharded run (all steps, dispatches and copies) from timestamp queries, or null. */
  readonly gpuMs: number | null;
  /** max |sharded − CPU float64 reference| over the rows in cpuRows (all rows when affordable). */
  readonly maxAbsErrorVsCpu: number;
  readonly backend: 'gpu' | 'cpu';
  readonly localMask: boolean;
  /** The online-softmax merge of one query row (last token of the last rank), step by step. */
  readonly softmaxTrace: SoftmaxTrace | null;
  /** Per forward step, per rank, the buffers the rank holds. */
  readonly rankBuffers: HeldBuffer[][][];
  /** Extras for readouts and tests. */
  readonly unshardedGpuMs: number | null;
  readonly unshardedVsCpu: number | null;
  readonly cpuRowsChecked: number;
  readonly dispatches: number;
  readonly copies: number;
  /** The sharded output, [heads, seqLen, headDim] f32 (not exposed on window). */
  readonly output: Float32Array;
}

/** Absolute tolerance the tests and readouts hold fp32 to (see src/gpu/attention.test.ts for the measured margin). */
export const FP32_TOLERANCE = 1e-5;

function dims(params: Params, schedule: Schedule): { heads: number; kvHeads: number; headDim: number; seq: number } {
  if (!schedule.valid) throw new Error(schedule.reason);
  if (schedule.seq !== params.execSeq) {
    throw new Error(`The schedule was built for ${schedule.seq} tokens but the executed length (execSeq) is ${params.execSeq}; build it from { ...params, seq: params.execSeq }.`);
  }
  if (schedule.strategy !== params.strategy) throw new Error(`The schedule is for ${schedule.strategy} but params ask for ${params.strategy}.`);
  return { heads: params.heads, kvHeads: params.kvHeads, headDim: params.headDim, seq: params.execSeq };
}

const queues = new WeakMap<GPUDevice, Promise<unknown>>();

/** Runs `task` after every earlier verification on the same device (error scopes are per device). */
function serialised<T>(device: GPUDevice, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(device) ?? Promise.resolve();
  const next = previous.then(task, task);
  queues.set(
    device,
    next.catch(() => undefined),
  );
  return next;
}

export interface VerifyOptions {
  /** Inputs instead of the seeded ones (the CLI's .npy files). Shapes must match params. */
  readonly inputs?: AttentionInputs;
  /** Skip the unsharded GPU run (tests that only need the CPU comparison). */
  readonly skipUnsharded?: boolean;
  /** Multiply-add budget of the CPU reference before it samples rows. */
  readonly cpuBudget?: number;
  /** The execution plan of `schedule` when the caller has built it already (the page prices it first). */
  readonly plan?: ExecPlan;
  /** Cancellation and pacing between step submissions (the page's verification worker). */
  readonly cancelled?: RunOptions['cancelled'];
  readonly afterSubmit?: RunOptions['afterSubmit'];
}

/**
 * Executes `schedule` on `device` and checks it. Safe to call repeatedly and concurrently (runs are
 * serialised per device); destroys every buffer it creates; throws a clear Error (never a WebGPU
 * validation error) when the executed size exceeds the device's limits.
 */
export function runVerification(device: GPUDevice, params: Params, schedule: Schedule, sources?: ShaderSources, options: VerifyOptions = {}): Promise<Verification> {
  return serialised(device, async () => {
    const d = dims(params, schedule);
    const src = sources ?? (await import('./shaders.ts')).SHADER_SOURCES;
    const plan = options.plan ?? buildExecPlan(schedule, d);
    const runner = new AttentionRunner(device, kernelsFor(device, src));
    runner.checkLimits(plan); // before anything large is allocated
    const inputs = options.inputs ?? generateInputs(params.seed, d.heads, d.kvHeads, d.seq, d.headDim);
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let sharded: Awaited<ReturnType<AttentionRunner['run']>>;
    let unsharded: Awaited<ReturnType<AttentionRunner['runUnsharded']>> | null = null;
    try {
      const pacing = { ...(options.cancelled ? { cancelled: options.cancelled } : {}), ...(options.afterSubmit ? { afterSubmit: options.afterSubmit } : {}) };
      sharded = await runner.run(plan, inputs, { localMask: params.localMask, ...pacing });
      if (!options.skipUnsharded && !options.cancelled?.()) unsharded = await runner.runUnsharded(inputs);
    } finally {
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      const problem = validation ?? oom;
      if (problem) throw new Error(`WebGPU reported an error while verifying ${params.strategy}: ${problem.message}`);
    }
    if (options.cancelled?.()) throw new RunCancelled(plan.steps.length);
    const rows = referenceRows(d.seq, d.heads, d.headDim, options.cpuBudget);
    const cpu = causalAttention(inputs, rows);
    const shape = { heads: d.heads, seq: d.seq, headDim: d.headDim, rows };
    const vsCpu = compare(sharded.o, cpu.o, shape);
    const vsRef = unsharded ? compare(sharded.o, unsharded.o) : vsCpu;
    return {
      strategy: params.strategy,
      ranks: schedule.ranks,
      seqLen: d.seq,
      heads: d.heads,
      kvHeads: d.kvHeads,
      headDim: d.headDim,
      maxAbsError: vsRef.maxAbsError,
      maxRelError: vsRef.maxRelError,
      gpuMs: sharded.gpuMs,
      maxAbsErrorVsCpu: vsCpu.maxAbsError,
      backend: 'gpu',
      localMask: params.localMask,
      softmaxTrace: sharded.trace,
      rankBuffers: heldBuffers(plan),
      unshardedGpuMs: unsharded?.gpuMs ?? null,
      unshardedVsCpu: unsharded ? compare(unsharded.o, cpu.o, shape).maxAbsError : null,
      cpuRowsChecked: rows.length,
      dispatches: sharded.dispatches,
      copies: sharded.copies,
      output: sharded.o,
    };
  });
}

/** The same check on the CPU (no WebGPU): the plan executed with per-rank arrays, vs the float64 reference. */
export function runVerificationCpu(params: Params, schedule: Schedule, options: Pick<VerifyOptions, 'inputs' | 'cpuBudget' | 'plan'> = {}): Verification {
  const d = dims(params, schedule);
  const inputs = options.inputs ?? generateInputs(params.seed, d.heads, d.kvHeads, d.seq, d.headDim);
  const plan = options.plan ?? buildExecPlan(schedule, d);
  const run = executePlanCpu(plan, inputs, params.localMask);
  const rows = referenceRows(d.seq, d.heads, d.headDim, options.cpuBudget);
  const cpu = causalAttention(inputs, rows);
  const err = compare(run.o, cpu.o, { heads: d.heads, seq: d.seq, headDim: d.headDim, rows });
  return {
    strategy: params.strategy,
    ranks: schedule.ranks,
    seqLen: d.seq,
    heads: d.heads,
    kvHeads: d.kvHeads,
    headDim: d.headDim,
    maxAbsError: err.maxAbsError,
    maxRelError: err.maxRelError,
    gpuMs: null,
    maxAbsErrorVsCpu: err.maxAbsError,
    backend: 'cpu',
    localMask: params.localMask,
    softmaxTrace: run.trace,
    rankBuffers: heldBuffers(plan),
    unshardedGpuMs: null,
    unshardedVsCpu: null,
    cpuRowsChecked: rows.length,
    dispatches: plan.steps.reduce((n, s) => n + s.compute.length + s.finalise.length, 0),
    copies: run.copies,
    output: run.o,
  };
}
