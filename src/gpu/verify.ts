// The verification the page (and the CLI, and the tests) run: execute the strategy's schedule rank by
// rank on the GPU, merge the per-rank outputs into global order, and compare them with the unsharded
// GPU reference (the same flash-style maths in one dispatch) and with the CPU reference (float64).
// runVerificationCpu does the same on the CPU for browsers without WebGPU.

import type { Params, StrategyId } from '../model/params.ts';
import type { Schedule } from '../model/schedule.ts';
import type { GradientStepNorms, HeldBuffer } from '../model/execution.ts';
import { buildExecPlan, heldBuffers } from '../model/execution.ts';
import type { AttentionInputs } from '../model/random.ts';
import { generateInputs } from '../model/random.ts';
import type { SoftmaxTrace } from '../model/reference.ts';
import { causalAttention, compare, executePlanCpu, referenceRows } from '../model/reference.ts';
import type { AttentionGradients } from '../model/referenceBackward.ts';
import { causalAttentionBackward, gradientError, outputGradient, queryHeadsOfKv, referenceKvHeads } from '../model/referenceBackward.ts';
import { AttentionRunner } from './AttentionRunner.ts';
import { kernelsFor } from './kernels.ts';
import type { ShaderSources } from './sources.ts';

export type { GradientStepNorms, HeldBuffer, SoftmaxTrace };

/** The backward phase of a verification: the sharded dQ, dK, dV against the unsharded ones. */
export interface BackwardVerification {
  /** max |sharded − reference| of dQ, dK, dV: vs the unsharded GPU backward, or vs the CPU reference when that was skipped. */
  readonly maxAbsErrorDq: number;
  readonly maxAbsErrorDk: number;
  readonly maxAbsErrorDv: number;
  /** GPU time of the sharded backward steps (timestamp queries), or null. */
  readonly gpuMs: number | null;
  /** max over dQ, dK, dV of maxAbsError / max |reference|: the tolerance is ≤ BACKWARD_TOLERANCE. */
  readonly relativeError: number;
  /** Largest |reference gradient| of dQ, dK, dV. */
  readonly maxGradient: { readonly dq: number; readonly dk: number; readonly dv: number };
  /** Relative error against the float64 CPU gradients, over the K/V heads in cpuKvHeadsChecked (and their query heads). */
  readonly relativeErrorVsCpu: number;
  readonly cpuKvHeadsChecked: number;
  readonly unshardedGpuMs: number | null;
  readonly dispatches: number;
  readonly copies: number;
  /** Element-wise gradient reductions (dst += src) among the dispatches. */
  readonly reductions: number;
  /** Per backward step, per rank: the gradient buffers held and their norms (for the scene), or null. */
  readonly gradientNorms: GradientStepNorms[] | null;
  /** The sharded gradients, global order (not exposed on window). */
  readonly gradients: AttentionGradients;
}

/** The backward tolerance: max |error| ≤ 1e-4 × the largest gradient magnitude, per tensor, in fp32. */
export const BACKWARD_TOLERANCE = 1e-4;

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
  /** The backward phase, or null (backwardError says why when it was asked for). */
  readonly backward: BackwardVerification | null;
  readonly backwardError: string | null;
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
  /** Run the backward phase (default true). */
  readonly backward?: boolean;
  /** dL/dO [heads, seq, headDim] instead of the seeded one (the CLI's --dout). */
  readonly outputGrad?: Float32Array;
}

/** Compares sharded gradients with the unsharded GPU ones (when given) and the float64 CPU ones (a budgeted subset of K/V heads). */
function checkGradients(
  sharded: AttentionGradients,
  unsharded: AttentionGradients | null,
  inputs: AttentionInputs,
  dO: Float32Array,
  budget: number | undefined,
): Pick<BackwardVerification, 'maxAbsErrorDq' | 'maxAbsErrorDk' | 'maxAbsErrorDv' | 'relativeError' | 'maxGradient' | 'relativeErrorVsCpu' | 'cpuKvHeadsChecked'> {
  const { seq, headDim, heads, kvHeads } = inputs;
  const kvList = referenceKvHeads(seq, heads, kvHeads, headDim, budget);
  const qList = queryHeadsOfKv(kvList, heads, kvHeads);
  const cpu = causalAttentionBackward(inputs, dO, kvList);
  const shape = (t: 'dq' | 'dk' | 'dv') => ({ seq, headDim, heads: t === 'dq' ? qList : kvList });
  const vsCpu = { dq: gradientError(sharded.dq, cpu.dq, shape('dq')), dk: gradientError(sharded.dk, cpu.dk, shape('dk')), dv: gradientError(sharded.dv, cpu.dv, shape('dv')) };
  const vsRef = unsharded ? { dq: gradientError(sharded.dq, unsharded.dq, { seq, headDim }), dk: gradientError(sharded.dk, unsharded.dk, { seq, headDim }), dv: gradientError(sharded.dv, unsharded.dv, { seq, headDim }) } : vsCpu;
  return {
    maxAbsErrorDq: vsRef.dq.maxAbsError,
    maxAbsErrorDk: vsRef.dk.maxAbsError,
    maxAbsErrorDv: vsRef.dv.maxAbsError,
    relativeError: Math.max(vsRef.dq.relative, vsRef.dk.relative, vsRef.dv.relative),
    maxGradient: { dq: vsRef.dq.maxMagnitude, dk: vsRef.dk.maxMagnitude, dv: vsRef.dv.maxMagnitude },
    relativeErrorVsCpu: Math.max(vsCpu.dq.relative, vsCpu.dk.relative, vsCpu.dv.relative),
    cpuKvHeadsChecked: kvList.length,
  };
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
    const plan = buildExecPlan(schedule, d);
    const runner = new AttentionRunner(device, kernelsFor(device, src));
    runner.checkLimits(plan); // before anything large is allocated
    const inputs = options.inputs ?? generateInputs(params.seed, d.heads, d.kvHeads, d.seq, d.headDim);
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let sharded: Awaited<ReturnType<AttentionRunner['run']>>;
    let unsharded: Awaited<ReturnType<AttentionRunner['runUnsharded']>> | null = null;
    // Backward phase: when asked for and this GPU and plan can run it (else the reason is reported).
    let backwardError: string | null = null;
    let dO: Float32Array | undefined;
    if (options.backward ?? true) {
      try {
        if (!plan.backward) throw new Error(plan.backwardError ?? 'the schedule has no backward steps');
        runner.checkBackwardLimits(plan);
        dO = options.outputGrad ?? outputGradient(params.seed, d.heads, d.seq, d.headDim);
      } catch (error) {
        backwardError = error instanceof Error ? error.message : String(error);
      }
    }
    let unshardedBackward: Awaited<ReturnType<AttentionRunner['runUnshardedBackward']>> | null = null;
    try {
      sharded = await runner.run(plan, inputs, { localMask: params.localMask, ...(dO ? { outputGrad: dO } : {}) });
      if (!options.skipUnsharded) unsharded = await runner.runUnsharded(inputs);
      if (dO && !options.skipUnsharded) unshardedBackward = await runner.runUnshardedBackward(inputs, dO, unsharded ? { forward: unsharded } : {});
    } finally {
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      const problem = validation ?? oom;
      if (problem) throw new Error(`WebGPU reported an error while verifying ${params.strategy}: ${problem.message}`);
    }
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
      backward:
        dO && sharded.backward
          ? {
              ...checkGradients(sharded.backward, unshardedBackward, inputs, dO, options.cpuBudget),
              gpuMs: sharded.backward.gpuMs,
              unshardedGpuMs: unshardedBackward?.gpuMs ?? null,
              dispatches: sharded.backward.dispatches,
              copies: sharded.backward.copies,
              reductions: sharded.backward.reductions,
              gradientNorms: sharded.backward.gradientNorms,
              gradients: { dq: sharded.backward.dq, dk: sharded.backward.dk, dv: sharded.backward.dv },
            }
          : null,
      backwardError,
    };
  });
}

/** The same check on the CPU (no WebGPU): the plan executed with per-rank arrays, vs the float64 reference. */
export function runVerificationCpu(params: Params, schedule: Schedule, options: Pick<VerifyOptions, 'inputs' | 'cpuBudget' | 'backward' | 'outputGrad'> = {}): Verification {
  const d = dims(params, schedule);
  const inputs = options.inputs ?? generateInputs(params.seed, d.heads, d.kvHeads, d.seq, d.headDim);
  const plan = buildExecPlan(schedule, d);
  let backwardError: string | null = null;
  let dO: Float32Array | undefined;
  if (options.backward ?? true) {
    // The executor's backward costs ≈ 4 × s²/2 × d × heads multiply-adds: refused above the budget.
    const cost = 2 * d.seq * d.seq * d.headDim * d.heads;
    const budget = Math.max(options.cpuBudget ?? 1.5e8, 1.5e8) * 4;
    if (!plan.backward) backwardError = plan.backwardError ?? 'the schedule has no backward steps';
    else if (cost > budget) backwardError = `the CPU fallback runs the backward only up to ${(budget / 1e6).toFixed(0)}M multiply-adds (this size needs ${(cost / 1e6).toFixed(0)}M); lower the executed sequence length.`;
    else dO = options.outputGrad ?? outputGradient(params.seed, d.heads, d.seq, d.headDim);
  }
  const run = executePlanCpu(plan, inputs, params.localMask, dO);
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
    backward:
      dO && run.grads
        ? {
            ...checkGradients(run.grads, null, inputs, dO, options.cpuBudget),
            gpuMs: null,
            unshardedGpuMs: null,
            dispatches: plan.backward?.steps.reduce((n, s) => n + s.compute.length + s.preprocess.length + s.reduce.length, 0) ?? 0,
            copies: plan.backward?.steps.reduce((n, s) => n + s.assemble.length + s.transfers.length, 0) ?? 0,
            reductions: plan.backward?.steps.reduce((n, s) => n + s.reduce.length, 0) ?? 0,
            gradientNorms: run.gradientNorms,
            gradients: run.grads,
          }
        : null,
    backwardError,
  };
}
