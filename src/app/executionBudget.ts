// The execution budget of the verification run: before anything is allocated, the executed problem
// (tokens × heads × head dim × ranks: its buffers, its dispatches and its arithmetic) is priced,
// and a request above the budget is clamped to the largest executed sequence length that fits.
// The GPU budget comes from the adapter (its buffer limits, and its speed as measured by the first
// run); the CPU fallback (no WebGPU) has its own, much smaller one. Pure: runs in node and in the
// verification worker.

import type { Params } from '../model/params.ts';
import type { ExecPlan } from '../model/execution.ts';
import { buildExecPlan } from '../model/execution.ts';
import type { Schedule } from '../model/schedule.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { formatBytes } from '../model/format.ts';

/** One run may submit at most this many dispatches (sharded steps + finalise + unsharded reference). */
export const MAX_DISPATCHES = 16_384;
/** One run may take at most this much estimated GPU time on the adapter (sharded + unsharded). */
export const MAX_GPU_MS = 1500;
/** Until the first run has measured the adapter: the FLOP per ms assumed (SwiftShader on 2 cores does ~1–3 GFLOP/s). */
export const ASSUMED_GPU_FLOP_PER_MS = 5e5;
/** JS memory for the inputs, outputs and read-backs of one run (the page's heap bound rests on it). */
export const MAX_HOST_BYTES = 192 * 2 ** 20;
/** Device memory resident at once, at most: a quarter of GiB, or 2 × maxStorageBufferBindingSize if smaller. */
export const MAX_DEVICE_BYTES = 256 * 2 ** 20;
/** CPU fallback: FLOPs of the executed plan plus the float64 reference (≈ 1 s of JS in the worker). */
export const CPU_MAX_WORK = 4e8;
export const CPU_MAX_HOST_BYTES = 64 * 2 ** 20;

export interface ExecutionBudget {
  readonly backend: 'gpu' | 'cpu';
  /** Device bytes resident at once (0 on the CPU). Exclusive: a price at the limit is over. */
  readonly maxDeviceBytes: number;
  readonly maxHostBytes: number;
  /** Estimated FLOPs of one run. */
  readonly maxWork: number;
  readonly maxDispatches: number;
  /** The GPU-time cap maxWork stands for, and the speed that converts one into the other. */
  readonly maxGpuMs: number | null;
  readonly flopPerMs: number | null;
  /** How flopPerMs was obtained: measured by the first run, or assumed until then. */
  readonly measured: boolean;
}

export interface ExecutionPrice {
  readonly deviceBytes: number;
  readonly hostBytes: number;
  readonly work: number;
  readonly dispatches: number;
}

export interface Clamp {
  readonly field: 'execSeq';
  readonly requested: number;
  readonly used: number;
  /** Which budget line the request exceeded, as a phrase: "device memory 1.6 GB > 256 MB". */
  readonly over: string;
}

export interface ChosenExecution {
  readonly params: Params;
  readonly schedule: Schedule;
  readonly plan: ExecPlan | null;
  readonly price: ExecutionPrice | null;
  readonly clamp: Clamp | null;
}

/** The GPU budget from the adapter's limits and, once measured, its speed. */
export function gpuBudget(limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>, flopPerMs: number | null): ExecutionBudget {
  const binding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const speed = flopPerMs ?? ASSUMED_GPU_FLOP_PER_MS;
  return {
    backend: 'gpu',
    maxDeviceBytes: Math.min(MAX_DEVICE_BYTES, 2 * binding),
    maxHostBytes: MAX_HOST_BYTES,
    maxWork: speed * MAX_GPU_MS,
    maxDispatches: MAX_DISPATCHES,
    maxGpuMs: MAX_GPU_MS,
    flopPerMs: speed,
    measured: flopPerMs !== null,
  };
}

export const CPU_BUDGET: ExecutionBudget = {
  backend: 'cpu',
  maxDeviceBytes: 0,
  maxHostBytes: CPU_MAX_HOST_BYTES,
  maxWork: CPU_MAX_WORK,
  maxDispatches: MAX_DISPATCHES,
  maxGpuMs: null,
  flopPerMs: null,
  measured: false,
};

/** Forward attention FLOPs of one block op: tq × tkv pairs × heads × 4·d (QKᵀ and PV, 2 FLOPs per MAC), mask ignored. */
function planWork(plan: ExecPlan): number {
  let work = 0;
  for (const step of plan.steps) for (const op of step.compute) work += op.tq * op.tkv * (op.heads.end - op.heads.start) * 4 * plan.headDim;
  return work;
}

/**
 * What running `plan` costs: the device bytes resident at the busiest step of the sharded run (or
 * of the unsharded reference, which runs after it), the JS bytes of inputs and outputs, the FLOPs
 * of both runs, and the dispatches.
 */
export function priceExecution(plan: ExecPlan, backend: 'gpu' | 'cpu'): ExecutionPrice {
  const { heads: H, kvHeads: KVH, seq: S, headDim: D } = plan;
  const tensor = S * D * 4;
  const inputs = (H + 2 * KVH) * tensor; // Q [H,S,D], K and V [KVH,S,D] f32
  const output = H * tensor; // O [H,S,D] f32
  let peak = 0;
  for (let i = 0; i < plan.steps.length; i++) {
    let resident = 0;
    for (const p of plan.pieces) if (p.allocStep <= i && i <= p.lastUse) resident += p.elements * 4;
    peak = Math.max(peak, resident);
  }
  const unsharded = inputs + output + 2 * H * S * 4; // + lse, l [H,S]
  const sharded = planWork(plan);
  const causal = 4 * H * D * ((S * (S + 1)) / 2);
  const dispatches = plan.steps.reduce((n, s) => n + s.compute.length + s.finalise.length, 0);
  if (backend === 'cpu') {
    // Per-rank arrays (≈ the sharded peak) plus inputs, the merged output and the float64 reference rows.
    return { deviceBytes: 0, hostBytes: inputs + peak + 3 * output, work: sharded + causal, dispatches };
  }
  // Host: inputs, the read-back copies of both outputs and the merged output.
  return { deviceBytes: Math.max(peak + output, unsharded + output), hostBytes: inputs + 4 * output, work: sharded + causal, dispatches: dispatches + 1 };
}

/** The first budget line `price` meets or exceeds (limits are exclusive), or null when it fits. */
export function overBudget(price: ExecutionPrice, budget: ExecutionBudget): string | null {
  if (budget.backend === 'gpu' && price.deviceBytes >= budget.maxDeviceBytes) return `GPU memory ${formatBytes(price.deviceBytes)} ≥ ${formatBytes(budget.maxDeviceBytes)}`;
  if (price.hostBytes >= budget.maxHostBytes) return `page memory ${formatBytes(price.hostBytes)} ≥ ${formatBytes(budget.maxHostBytes)}`;
  if (price.work >= budget.maxWork) return `work ${formatFlops(price.work)} ≥ ${formatFlops(budget.maxWork)}${budget.maxGpuMs ? ` (${budget.maxGpuMs} ms of GPU time)` : ''}`;
  if (price.dispatches > budget.maxDispatches) return `${price.dispatches} dispatches > ${budget.maxDispatches}`;
  return null;
}

export function formatFlops(flops: number): string {
  if (flops >= 1e12) return `${(flops / 1e12).toFixed(1)} TFLOP`;
  if (flops >= 1e9) return `${(flops / 1e9).toFixed(1)} GFLOP`;
  return `${(flops / 1e6).toFixed(1)} MFLOP`;
}

/** One line for the page: what the budget is and where it comes from. */
export function describeBudget(budget: ExecutionBudget): string {
  if (budget.backend === 'cpu') return `CPU budget: ${formatFlops(budget.maxWork)} and ${formatBytes(budget.maxHostBytes)} per run, in a worker.`;
  const speed = budget.flopPerMs ? `${((budget.flopPerMs * 1000) / 1e9).toFixed(2)} GFLOP/s ${budget.measured ? 'measured on this adapter by the first run' : 'assumed until the first run measures it'}` : '';
  return `GPU budget per run: ${budget.maxGpuMs} ms (${formatFlops(budget.maxWork)} at ${speed}), ${formatBytes(budget.maxDeviceBytes)} of GPU memory, ${formatBytes(budget.maxHostBytes)} of page memory, ${budget.maxDispatches} dispatches.`;
}

/**
 * The executed run for `requested` within `budget`: the requested execSeq when it fits, else the
 * largest multiple of 2·ranks below it whose price fits (bytes scale with the tokens, work with
 * their square). Returns the schedule's reason when it is invalid; never allocates tensor data.
 */
export function chooseExecution(requested: Params, budget: ExecutionBudget): ChosenExecution {
  const build = (execSeq: number): { params: Params; schedule: Schedule; plan: ExecPlan | null; price: ExecutionPrice | null } => {
    const params: Params = { ...requested, execSeq, seq: execSeq };
    const schedule = buildSchedule(params);
    if (!schedule.valid) return { params, schedule, plan: null, price: null };
    const plan = buildExecPlan(schedule, { heads: params.heads, kvHeads: params.kvHeads, headDim: params.headDim });
    return { params, schedule, plan, price: priceExecution(plan, budget.backend) };
  };
  const first = build(requested.execSeq);
  if (!first.price) return { ...first, clamp: null };
  const over = overBudget(first.price, budget);
  if (!over) return { ...first, clamp: null };
  if (first.price.dispatches > budget.maxDispatches) throw new Error(`This run needs ${first.price.dispatches} dispatches, above the budget of ${budget.maxDispatches}; use fewer ranks.`);
  const p = first.price;
  const S = requested.execSeq;
  const ratio = Math.min(
    1,
    budget.backend === 'gpu' ? budget.maxDeviceBytes / p.deviceBytes : 1,
    budget.maxHostBytes / p.hostBytes,
    Math.sqrt(budget.maxWork / p.work),
  );
  const unit = 2 * requested.ranks;
  let seq = Math.max(unit, Math.floor((S * ratio * 0.98) / unit) * unit);
  for (let attempt = 0; attempt < 12; attempt++) {
    const next = build(seq);
    if (next.price && !overBudget(next.price, budget)) return { ...next, clamp: { field: 'execSeq', requested: S, used: seq, over } };
    if (seq <= unit) break;
    seq = Math.max(unit, Math.floor((seq * 0.8) / unit) * unit);
  }
  throw new Error(`Even ${seq} executed tokens exceed the execution budget (${over}); lower the heads or the head dimension.`);
}
