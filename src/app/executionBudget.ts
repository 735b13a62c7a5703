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
export const MAX_GPU_MS = 10_000;
/** Until the first run has measured the adapter: the (padded) FLOP per ms assumed, 0.5 GFLOP/s (SwiftShader on 2 busy cores measures 0.2–1). */
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
  readonly field: 'execSeq' | 'heads';
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
  /** The fields the budget lowered, in the order they were lowered (empty when the request fits). */
  readonly clamps: Clamp[];
}

/** The kernel's tiling: a block dispatch runs whole workgroups of `wgQ` query rows over K/V tiles of `bk` keys. */
export interface TilePadding {
  readonly wgQ: number;
  readonly bk: number;
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

const padTo = (n: number, unit: number): number => Math.ceil(n / unit) * unit;

/**
 * Forward attention FLOPs as the kernel executes them: per block op, query rows padded to whole
 * workgroups and keys to whole tiles (a 2-token shard still runs a full workgroup), × heads × 4·d
 * (QKᵀ and PV, 2 FLOPs per MAC), mask ignored. At 64 ranks the padding, not the tokens, is the cost.
 */
function planWork(plan: ExecPlan, tiles: TilePadding): number {
  let work = 0;
  for (const step of plan.steps) for (const op of step.compute) work += padTo(op.tq, tiles.wgQ) * padTo(op.tkv, tiles.bk) * (op.heads.end - op.heads.start) * 4 * plan.headDim;
  return work;
}

/** Without a device (the CPU fallback, node tests): no padding. */
export const NO_PADDING: TilePadding = { wgQ: 1, bk: 1 };

/**
 * What running `plan` costs: the device bytes resident at the busiest step of the sharded run (or
 * of the unsharded reference, which runs after it), the JS bytes of inputs and outputs, the FLOPs
 * of both runs, and the dispatches.
 */
export function priceExecution(plan: ExecPlan, backend: 'gpu' | 'cpu', tiles: TilePadding = NO_PADDING): ExecutionPrice {
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
  const sharded = planWork(plan, tiles);
  const causal = 4 * H * D * padTo(S, tiles.wgQ) * padTo(S, tiles.bk) * (tiles.wgQ > 1 ? 1 : 0.5);
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
 * The executed run for `requested` within `budget`: the requested size when it fits; else the
 * largest multiple of 2·ranks below the requested execSeq whose price fits (bytes scale with the
 * tokens, work with their square); and when even the smallest execSeq is over (at 64 ranks the
 * per-dispatch padding dominates), heads and K/V heads halved together (GQA ratio kept) until it
 * fits. Returns the schedule's reason when it is invalid; allocates no tensor data.
 */
export function chooseExecution(requested: Params, budget: ExecutionBudget, tiles: TilePadding = NO_PADDING): ChosenExecution {
  const build = (execSeq: number, heads = requested.heads, kvHeads = requested.kvHeads): Omit<ChosenExecution, 'clamps'> => {
    const params: Params = { ...requested, execSeq, seq: execSeq, heads, kvHeads };
    const schedule = buildSchedule(params);
    if (!schedule.valid) return { params, schedule, plan: null, price: null };
    const plan = buildExecPlan(schedule, { heads, kvHeads, headDim: params.headDim });
    return { params, schedule, plan, price: priceExecution(plan, budget.backend, tiles) };
  };
  const first = build(requested.execSeq);
  if (!first.price) return { ...first, clamps: [] };
  const over = overBudget(first.price, budget);
  if (!over) return { ...first, clamps: [] };
  if (first.price.dispatches > budget.maxDispatches) throw new Error(`This run needs ${first.price.dispatches} dispatches, above the budget of ${budget.maxDispatches}; use fewer ranks.`);
  const p = first.price;
  const S = requested.execSeq;
  const ratio = Math.min(1, budget.backend === 'gpu' ? budget.maxDeviceBytes / p.deviceBytes : 1, budget.maxHostBytes / p.hostBytes, Math.sqrt(budget.maxWork / p.work));
  const unit = Math.min(S, 2 * requested.ranks);
  let seq = Math.max(unit, Math.floor((S * ratio * 0.98) / unit) * unit);
  let last = first;
  for (let attempt = 0; attempt < 16; attempt++) {
    const next = build(seq);
    if (next.price) {
      last = next;
      const stillOver = overBudget(next.price, budget);
      if (!stillOver) return { ...next, clamps: seq < S ? [{ field: 'execSeq', requested: S, used: seq, over }] : [] };
    }
    if (seq <= unit) break;
    seq = Math.max(unit, Math.floor((seq * 0.8) / unit) * unit);
  }
  // The smallest execSeq is still over: fewer heads (each head is one more workgroup per dispatch).
  const execClamp: Clamp[] = last.params.execSeq < S ? [{ field: 'execSeq', requested: S, used: last.params.execSeq, over }] : [];
  let heads = requested.heads;
  let kvHeads = requested.kvHeads;
  while (heads % 2 === 0 && kvHeads % 2 === 0) {
    heads /= 2;
    kvHeads /= 2;
    const next = build(last.params.execSeq, heads, kvHeads);
    if (!next.price) break; // e.g. Ulysses needs the heads to divide among the ranks
    if (!overBudget(next.price, budget)) return { ...next, clamps: [...execClamp, { field: 'heads', requested: requested.heads, used: heads, over: overBudget(last.price ?? p, budget) ?? over }] };
    last = next;
  }
  throw new Error(`Even ${last.params.execSeq} executed tokens × ${last.params.heads} heads exceed the execution budget (${overBudget(last.price ?? p, budget) ?? over}); lower the heads, the head dimension or the ranks.`);
}
