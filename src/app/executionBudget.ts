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
/** Until the first run has measured the adapter: the (padded) FLOP per ms assumed, 1.2 GFLOP/s, so that the default run (forward + backward) is not clamped before anything is known; the first run then measures the real speed. */
export const ASSUMED_GPU_FLOP_PER_MS = 1.2e6;
/**
 * The same assumption for a software adapter (`GPUAdapterInfo.isFallbackAdapter`, e.g. SwiftShader): 0.1 GFLOP/s.
 * Measured here on SwiftShader (2 shared cores): the tiled forward at 0.24 GFLOP/s idle (`npm run bench -- gpu`),
 * the backward at 0.05 GFLOP/s, and ~10 ms of latency per dispatch. At 1.2 GFLOP/s the default run (forward +
 * backward, sharded + unsharded) took 90 s there instead of 10 s; with this it is clamped before it starts.
 */
export const ASSUMED_SOFTWARE_GPU_FLOP_PER_MS = 1e5;
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
  readonly field: 'execSeq' | 'heads' | 'headDim';
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
export function gpuBudget(
  limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>,
  flopPerMs: number | null,
  softwareAdapter = false,
): ExecutionBudget {
  const binding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const speed = flopPerMs ?? (softwareAdapter ? ASSUMED_SOFTWARE_GPU_FLOP_PER_MS : ASSUMED_GPU_FLOP_PER_MS);
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

/** Without a device (the CPU fallback, node tests): no padding. */
export const NO_PADDING: TilePadding = { wgQ: 1, bk: 1 };

interface ResidentClasses {
  qDim: number;
  qRow: number;
  kvDim: number;
  kvRow: number;
}
const residentCache = new WeakMap<ExecPlan, ResidentClasses[]>();

/** Per step: elements resident, split by what they scale with. */
function residentClasses(plan: ExecPlan): ResidentClasses[] {
  const cached = residentCache.get(plan);
  if (cached) return cached;
  const n = plan.steps.length;
  // Difference arrays over steps: +elements at allocStep, − after lastUse.
  const delta = Array.from({ length: n + 1 }, () => ({ qDim: 0, qRow: 0, kvDim: 0, kvRow: 0 }));
  for (const p of plan.pieces) {
    const key: keyof ResidentClasses = p.tensor === 'K' || p.tensor === 'V' ? (p.width > 1 ? 'kvDim' : 'kvRow') : p.width > 1 ? 'qDim' : 'qRow';
    const from = Math.max(0, p.allocStep);
    const to = Math.min(n, Number.isFinite(p.lastUse) ? p.lastUse + 1 : n);
    if (from >= to) continue;
    (delta[from] as ResidentClasses)[key] += p.elements;
    (delta[to] as ResidentClasses)[key] -= p.elements;
  }
  const out: ResidentClasses[] = [];
  const run = { qDim: 0, qRow: 0, kvDim: 0, kvRow: 0 };
  for (let i = 0; i < n; i++) {
    const d = delta[i] as ResidentClasses;
    run.qDim += d.qDim;
    run.qRow += d.qRow;
    run.kvDim += d.kvDim;
    run.kvRow += d.kvRow;
    out.push({ ...run });
  }
  residentCache.set(plan, out);
  return out;
}

/** A smaller run of the same schedule, as factors of `plan`'s size (the search prices these without rebuilding). */
export interface Shrink {
  readonly seq: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/**
 * What running `plan` costs: the device bytes resident at the busiest step of the sharded run (or
 * of the unsharded reference, which runs after it), the JS bytes of inputs and outputs, the FLOPs
 * of both runs, and the dispatches. With `to`, the price of the same schedule at those sizes
 * (token counts scale with seq, buffers with heads and head dim): the clamp's search uses it so that
 * it builds one execution plan per candidate it keeps, not per candidate it tries.
 */
export function priceExecution(plan: ExecPlan, backend: 'gpu' | 'cpu', tiles: TilePadding = NO_PADDING, to?: Shrink): ExecutionPrice {
  const fs = to ? to.seq / plan.seq : 1;
  const fh = to ? to.heads / plan.heads : 1;
  const fkv = to ? to.kvHeads / plan.kvHeads : 1;
  const H = to?.heads ?? plan.heads;
  const KVH = to?.kvHeads ?? plan.kvHeads;
  const S = to?.seq ?? plan.seq;
  const D = to?.headDim ?? plan.headDim;
  const fd = D / plan.headDim;
  const tensor = S * D * 4;
  const inputs = (H + 2 * KVH) * tensor; // Q [H,S,D], K and V [KVH,S,D] f32
  const output = H * tensor; // O [H,S,D] f32
  // Resident bytes per step, from per-step element sums of the four ways a buffer scales (K/V or
  // query heads × per-dim or per-row), so that pricing a candidate size is O(steps).
  const classes = residentClasses(plan);
  let peak = 0;
  for (const c of classes) {
    const resident = 4 * fs * (c.qDim * fh * fd + c.qRow * fh + c.kvDim * fkv * fd + c.kvRow * fkv);
    peak = Math.max(peak, resident);
  }
  const unsharded = inputs + output + 2 * H * S * 4; // + lse, l [H,S]
  let sharded = 0;
  for (const step of plan.steps) {
    for (const op of step.compute) sharded += padTo(Math.ceil(op.tq * fs), tiles.wgQ) * padTo(Math.ceil(op.tkv * fs), tiles.bk) * Math.max(1, Math.round((op.heads.end - op.heads.start) * fh)) * 4 * D;
  }
  const causal = 4 * H * D * padTo(S, tiles.wgQ) * padTo(S, tiles.bk) * (tiles.wgQ > 1 ? 1 : 0.5) * (plan.backward ? 3.5 : 1);
  let dispatches = plan.steps.reduce((n, st) => n + st.compute.length + st.finalise.length, 0);
  // The backward phase (src/gpu/verify.ts runs it after the forward): ≈ 2.5× the forward's FLOPs
  // (FlashAttention-2 §3.2: 5 matmuls against 2), plus its preprocess and reduction dispatches.
  const backward = (plan as { backward?: { steps: readonly { compute: readonly unknown[]; preprocess?: readonly unknown[]; reduce?: readonly unknown[] }[] } | null }).backward;
  if (backward) {
    for (const st of backward.steps) dispatches += st.compute.length + (st.preprocess?.length ?? 0) + (st.reduce?.length ?? 0);
    sharded *= 3.5;
  }
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
 * workgroup padding of ranks² block dispatches dominates), heads halved (K/V heads with them while
 * they divide), then the head dimension. Candidates are priced by scaling the requested plan; only
 * the chosen one is built (and priced again exactly). Allocates no tensor data.
 */
export function chooseExecution(requested: Params, budget: ExecutionBudget, tiles: TilePadding = NO_PADDING): ChosenExecution {
  const build = (size: Shrink): Omit<ChosenExecution, 'clamps'> => {
    const params: Params = { ...requested, execSeq: size.seq, seq: size.seq, heads: size.heads, kvHeads: size.kvHeads, headDim: size.headDim };
    const schedule = buildSchedule(params);
    if (!schedule.valid) return { params, schedule, plan: null, price: null };
    const plan = buildExecPlan(schedule, { heads: size.heads, kvHeads: size.kvHeads, headDim: size.headDim });
    return { params, schedule, plan, price: priceExecution(plan, budget.backend, tiles) };
  };
  const asked: Shrink = { seq: requested.execSeq, heads: requested.heads, kvHeads: requested.kvHeads, headDim: requested.headDim };
  // Price from a small plan of the same schedule scaled up: building the plan of a hostile size
  // (16K tokens at 64 ranks) takes seconds and hundreds of MB of positions; a 4·2·ranks one does not.
  const unit = Math.min(asked.seq, 2 * requested.ranks);
  const baseSeq = asked.seq <= 4 * unit ? asked.seq : 4 * unit;
  const base = build({ ...asked, seq: baseSeq });
  if (!base.price || !base.plan) return { ...base, params: { ...base.params, execSeq: asked.seq, seq: asked.seq }, clamps: [] };
  const plan = base.plan;
  const estimate = (size: Shrink): ExecutionPrice => priceExecution(plan, budget.backend, tiles, size);
  const fits = (size: Shrink): boolean => overBudget(estimate(size), budget) === null;
  const askedPrice = estimate(asked);
  const over = overBudget(askedPrice, budget);
  if (!over) {
    const exact = baseSeq === asked.seq ? base : build(asked);
    if (exact.price && !overBudget(exact.price, budget)) return { ...exact, clamps: [] };
  }
  if (askedPrice.dispatches > budget.maxDispatches) throw new Error(`This run needs ${askedPrice.dispatches} dispatches, above the budget of ${budget.maxDispatches}; use fewer ranks.`);
  const overText = over ?? 'the exact price of the requested size';

  // Candidates, largest first: execSeq down to 2·ranks, then heads, then head dim.
  const S = requested.execSeq;
  const candidates: Shrink[] = [];
  for (let seq = Math.floor(S / unit) * unit; seq >= unit; seq = seq > unit ? Math.max(unit, Math.floor((seq * 0.85) / unit) * unit) : 0) {
    if (seq < S) candidates.push({ ...asked, seq });
  }
  let size: Shrink = { ...asked, seq: unit };
  while (size.heads > 1) {
    const kv = size.kvHeads % 2 === 0 ? size.kvHeads / 2 : 1;
    const h = Math.floor(size.heads / 2);
    if (h % kv !== 0) break;
    size = { ...size, heads: h, kvHeads: kv };
    candidates.push(size);
  }
  while (size.headDim > 16) {
    size = { ...size, headDim: Math.max(16, Math.floor(size.headDim / 2)) };
    candidates.push(size);
  }
  for (const candidate of candidates) {
    if (!fits(candidate)) continue;
    const chosen = build(candidate);
    if (!chosen.price || overBudget(chosen.price, budget)) continue; // e.g. Ulysses needs the heads to divide among the ranks
    const clamps: Clamp[] = [];
    if (candidate.seq < asked.seq) clamps.push({ field: 'execSeq', requested: asked.seq, used: candidate.seq, over: overText });
    if (candidate.heads < asked.heads) clamps.push({ field: 'heads', requested: asked.heads, used: candidate.heads, over: overText });
    if (candidate.headDim < asked.headDim) clamps.push({ field: 'headDim', requested: asked.headDim, used: candidate.headDim, over: overText });
    return { ...chosen, clamps };
  }
  throw new Error(`Even ${size.seq} executed tokens × ${size.heads} heads × ${size.headDim} exceed the execution budget (${overText}); use fewer ranks.`);
}
