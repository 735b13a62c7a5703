// The execution budget of the verification run: before anything is allocated, the executed problem
// (tokens × heads × head dim × ranks: its buffers, its dispatches and its arithmetic) is priced per
// part (sharded and unsharded, forward and backward), and a request above the budget is clamped:
// the executed sequence length, heads and head dim shrink, and the backward is dropped when no size
// fits with it. The GPU budget comes from the adapter: its buffer limits, and a GPU-time model
// (padded FLOPs / flopPerMs + dispatches × msPerDispatch) whose two rates are fitted to the timed
// parts of the runs completed on it (assumed for its kind of adapter until the first completes).
// The CPU fallback (no WebGPU) has its own, much smaller budget. Pure: runs in node and in the
// verification worker.

import type { Params } from '../model/params.ts';
import type { ExecPlan } from '../model/execution.ts';
import { buildExecPlan } from '../model/execution.ts';
import type { Schedule } from '../model/schedule.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { formatBytes, formatSeconds } from '../model/format.ts';

/**
 * One run may submit at most this many dispatches (sharded steps + finalise + unsharded reference,
 * forward and backward). The most any strategy submits at MAX_RANKS fits: ring, zigzag and striped
 * at 64 ranks make 16,387 (4,160 forward, 12,224 backward, 3 unsharded); it bounds the commands one
 * run encodes and queues, while MAX_GPU_MS bounds a slow adapter's time.
 */
export const MAX_DISPATCHES = 20_000;
/** One run (sharded + unsharded, forward + backward when it runs) may take at most this much estimated GPU time on the adapter. */
export const MAX_GPU_MS = 10_000;

/**
 * The GPU-time model of one run: ms ≈ work / flopPerMs + dispatches × msPerDispatch. The work is
 * the priced FLOPs with the kernel's workgroup padding (priceExecution); the per-dispatch term is the
 * latency a dispatch costs whatever its size (submission, pipeline and bind-group set-up, the
 * driver's scheduling), which dominates on a software adapter at many ranks.
 */
export interface GpuTimeRates {
  readonly flopPerMs: number;
  readonly msPerDispatch: number;
}

/**
 * Until the first run has measured the adapter: 2 GFLOP/s and 0.05 ms per dispatch for a hardware
 * adapter. Deliberately slow for a GPU (an integrated one does tens of GFLOP/s and ~10 µs per
 * dispatch), so that the first run is not larger than the budget on any GPU; the first run then
 * measures the real rates and the next run uses them.
 */
export const ASSUMED_GPU_FLOP_PER_MS = 2e6;
export const ASSUMED_GPU_MS_PER_DISPATCH = 0.05;
/**
 * The same assumptions for a software adapter (`GPUAdapterInfo.isFallbackAdapter`, e.g. SwiftShader):
 * 0.1 GFLOP/s and 1 ms per dispatch, the slow end of what was measured on SwiftShader on this
 * project's 2-core build machine (shared: load average ~6, so every figure is contended):
 * - fitted to small runs (head dim 16–64) in node (Dawn): 0.23–0.68 GFLOP/s and 0.15–0.9 ms per
 *   dispatch over three runs of `npx vitest run src/app/executionBudget.gpu.test.ts` (it prints them);
 *   in Chromium's worker, 1.3 GFLOP/s and 0.5 ms over zigzag at 16, 32 and 64 ranks, and 0.48 GFLOP/s
 *   and 0.94 ms from the 64-rank forward of `E2E_PORT=4221 npx playwright test e2e/budget.spec.ts`
 *   (it logs the page's fitted rates);
 * - per dispatch at 64 ranks in Chromium: 1.29 ms in the forward (with the worker's queue pacing),
 *   0.84 ms in the backward;
 * - per FLOP at head dim 128 in node: 0.21 GFLOP/s forward and 0.12–0.18 backward (ring, 2 ranks ×
 *   256 tokens × 4 heads); 0.10 forward, 0.17 backward, 0.14 unsharded (ring, 8 ranks × 256 tokens
 *   × 8 heads, load average 9); the default run (8 ranks × 256 tokens × 32 heads × 128) took ~90 s
 *   in the page before this budget existed, ≈ 0.14 GFLOP/s.
 * A run's own timings replace these as soon as it completes.
 */
export const ASSUMED_SOFTWARE_GPU_FLOP_PER_MS = 1e5;
export const ASSUMED_SOFTWARE_GPU_MS_PER_DISPATCH = 1;
/** Bounds on a fitted rate (a fit of noisy timings may put one term at zero): 100 TFLOP/s, 1 µs per dispatch. */
export const MAX_FITTED_FLOP_PER_MS = 1e11;
export const MIN_FITTED_MS_PER_DISPATCH = 1e-3;
/** The backward kernel's own work per forward FLOP: it recomputes P and dP (7 matrix products against the forward's 2; FlashAttention-2 §3.1 counts 5 for the backward proper). Same factor as scripts/bench/gpu.ts. */
export const BACKWARD_WORK_FACTOR = 3.5;
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
  /** FLOPs of one run: on the CPU the budget line itself; on the GPU what maxGpuMs buys at flopPerMs with no dispatch latency. */
  readonly maxWork: number;
  readonly maxDispatches: number;
  /** The GPU-time cap of one run (inclusive), estimated with flopPerMs and msPerDispatch. */
  readonly maxGpuMs: number | null;
  readonly flopPerMs: number | null;
  /** Latency of one dispatch whatever its size, in ms (GPU only). */
  readonly msPerDispatch: number | null;
  /** How the rates were obtained: measured (fitted to timings of completed runs on this adapter), or assumed until then. */
  readonly measured: boolean;
  /** Timed parts of completed runs the measured rates were fitted to (0 while assumed). */
  readonly timedParts: number;
  /** A software adapter (its assumed rates are a software renderer's). */
  readonly softwareAdapter: boolean;
}

/** The four parts of a GPU run, in the order they run; the CPU fallback has a float64 reference instead of the unsharded runs. */
export type RunPart = 'sharded forward' | 'unsharded forward' | 'sharded backward' | 'unsharded backward';

export interface PartPrice {
  readonly part: RunPart;
  /** Padded FLOPs (the backward's at BACKWARD_WORK_FACTOR × its forward's). */
  readonly work: number;
  readonly dispatches: number;
}

export interface ExecutionPrice {
  readonly deviceBytes: number;
  readonly hostBytes: number;
  /** Estimated FLOPs of the whole run (the sum over parts). */
  readonly work: number;
  /** Dispatches of the whole run (the sum over parts). */
  readonly dispatches: number;
  /** Work and dispatches per part: what the time model prices and what a finished run's timings are fitted against. */
  readonly parts: readonly PartPrice[];
}

export interface Clamp {
  /** The field lowered, or 'backward' when the budget dropped the backward pass (requested 1, used 0). */
  readonly field: 'execSeq' | 'heads' | 'headDim' | 'backward';
  readonly requested: number;
  readonly used: number;
  /** Which budget line the request exceeded, as a phrase: "estimated GPU time 23.0 s > 10.0 s on this adapter". */
  readonly over: string;
}

export interface ChosenExecution {
  readonly params: Params;
  readonly schedule: Schedule;
  readonly plan: ExecPlan | null;
  readonly price: ExecutionPrice | null;
  /** The fields the budget lowered, in the order they were lowered (empty when the request fits). */
  readonly clamps: Clamp[];
  /** False when the budget dropped the backward pass (a 'backward' clamp says why). */
  readonly runBackward: boolean;
  /** The run's GPU time at the budget's rates, or null (CPU, or no price). */
  readonly estimatedGpuMs: number | null;
}

/** The kernel's tiling: a block dispatch runs whole workgroups of `wgQ` query rows over K/V tiles of `bk` keys. */
export interface TilePadding {
  readonly wgQ: number;
  readonly bk: number;
}

/** The GPU budget from the adapter's limits and its rates: measured ones, else the assumptions for its kind. */
export function gpuBudget(
  limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>,
  measured: (GpuTimeRates & { readonly timedParts?: number }) | null,
  softwareAdapter = false,
): ExecutionBudget {
  const binding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const rates = measured ?? assumedRates(softwareAdapter);
  return {
    backend: 'gpu',
    maxDeviceBytes: Math.min(MAX_DEVICE_BYTES, 2 * binding),
    maxHostBytes: MAX_HOST_BYTES,
    maxWork: rates.flopPerMs * MAX_GPU_MS,
    maxDispatches: MAX_DISPATCHES,
    maxGpuMs: MAX_GPU_MS,
    flopPerMs: rates.flopPerMs,
    msPerDispatch: rates.msPerDispatch,
    measured: measured !== null,
    timedParts: measured?.timedParts ?? 0,
    softwareAdapter,
  };
}

/** The rates assumed for an adapter before anything is measured on it. */
export function assumedRates(softwareAdapter: boolean): GpuTimeRates {
  return softwareAdapter
    ? { flopPerMs: ASSUMED_SOFTWARE_GPU_FLOP_PER_MS, msPerDispatch: ASSUMED_SOFTWARE_GPU_MS_PER_DISPATCH }
    : { flopPerMs: ASSUMED_GPU_FLOP_PER_MS, msPerDispatch: ASSUMED_GPU_MS_PER_DISPATCH };
}

export const CPU_BUDGET: ExecutionBudget = {
  backend: 'cpu',
  maxDeviceBytes: 0,
  maxHostBytes: CPU_MAX_HOST_BYTES,
  maxWork: CPU_MAX_WORK,
  maxDispatches: MAX_DISPATCHES,
  maxGpuMs: null,
  flopPerMs: null,
  msPerDispatch: null,
  measured: false,
  timedParts: 0,
  softwareAdapter: false,
};

/** Estimated GPU milliseconds of `parts` (a whole price or some of its parts) at `rates`. */
export function estimateGpuMs(parts: readonly Pick<PartPrice, 'work' | 'dispatches'>[], rates: GpuTimeRates): number {
  let ms = 0;
  for (const p of parts) ms += p.work / rates.flopPerMs + p.dispatches * rates.msPerDispatch;
  return ms;
}

/** One timed part of a completed run: its priced work and dispatches, and the milliseconds it took. */
export interface PartTiming {
  readonly part?: RunPart | 'whole run';
  readonly work: number;
  readonly dispatches: number;
  readonly ms: number;
}

/** What a completed run reports of its timing (src/gpu/verify.ts Verification). */
export interface TimedRun {
  readonly gpuMs: number | null;
  readonly unshardedGpuMs: number | null;
  readonly dispatches: number;
  readonly backward: { readonly gpuMs: number | null; readonly unshardedGpuMs: number | null; readonly dispatches: number } | null;
}

/**
 * The timed parts of a completed run, for the rate fit: each part's priced work with the dispatches
 * it actually made and its GPU time (timestamp queries). Without timestamps, the whole run's wall
 * time against its whole price (slower than the GPU time: the safe side).
 */
export function runTimings(v: TimedRun, price: ExecutionPrice, wallMs: number): PartTiming[] {
  const priced = (part: PartTiming['part']) => price.parts.find((p) => p.part === part);
  const out: PartTiming[] = [];
  const add = (part: NonNullable<PartTiming['part']>, ms: number | null | undefined, dispatches?: number): void => {
    const p = priced(part);
    if (p && ms != null) out.push({ part, work: p.work, dispatches: dispatches ?? p.dispatches, ms });
  };
  add('sharded forward', v.gpuMs, v.dispatches);
  add('unsharded forward', v.unshardedGpuMs);
  add('sharded backward', v.backward?.gpuMs, v.backward?.dispatches);
  add('unsharded backward', v.backward?.unshardedGpuMs);
  if (out.length === 0 && wallMs > 0) out.push({ part: 'whole run', work: price.work, dispatches: price.dispatches, ms: wallMs });
  return out;
}

/**
 * The rates that best explain `timings` (ms ≈ work / flopPerMs + dispatches × msPerDispatch), by
 * least squares weighted by 1/ms (a timing's spread grows with its length, so a 20 s part weighs
 * more than a 2 ms one, but not 10,000× more). The parts of one run differ in dispatches per FLOP
 * by orders of magnitude (the unsharded forward is one dispatch; the sharded one ranks² at 64
 * ranks), which is what separates the two rates. When the timings cannot separate them (one part,
 * parts with the same dispatches per FLOP, or a fit that puts a rate at or past its bound,
 * MAX_FITTED_FLOP_PER_MS or MIN_FITTED_MS_PER_DISPATCH, as noise on a shared machine can), both of
 * `prior`'s rates are scaled by the one factor that best explains them instead. Null when no timing
 * is usable.
 */
export function fitGpuRates(timings: readonly PartTiming[], prior: GpuTimeRates): (GpuTimeRates & { readonly timedParts: number }) | null {
  const rows = timings.filter((t) => Number.isFinite(t.ms) && t.ms > 0 && Number.isFinite(t.work) && Number.isFinite(t.dispatches) && t.work >= 0 && t.dispatches >= 0 && t.work + t.dispatches > 0);
  if (rows.length === 0) return null;
  // Unknowns a = 1 / flopPerMs, b = msPerDispatch. Minimise Σ (a·work + b·dispatches − ms)² / ms.
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  let sxm = 0;
  let sym = 0;
  for (const t of rows) {
    sxx += (t.work * t.work) / t.ms;
    sxy += (t.work * t.dispatches) / t.ms;
    syy += (t.dispatches * t.dispatches) / t.ms;
    sxm += t.work;
    sym += t.dispatches;
  }
  const minA = 1 / MAX_FITTED_FLOP_PER_MS;
  const minB = MIN_FITTED_MS_PER_DISPATCH;
  const done = (a: number, b: number) => ({ flopPerMs: 1 / Math.max(a, minA), msPerDispatch: Math.max(b, minB), timedParts: rows.length });
  const det = sxx * syy - sxy * sxy;
  if (rows.length >= 2 && det > 1e-9 * sxx * syy) {
    const a = (sxm * syy - sym * sxy) / det;
    const b = (sym * sxx - sxm * sxy) / det;
    if (a > minA && b > minB) return done(a, b);
    // A rate at or past its bound: these timings do not separate the two (at a few tokens per rank
    // every block dispatch does the same padded work, so dispatches and FLOPs rise together).
  }
  // Rank-deficient or not separable: scale the prior's prediction p = a0·work + b0·dispatches by the s minimising Σ (s·p − ms)² / ms.
  const a0 = 1 / prior.flopPerMs;
  const b0 = prior.msPerDispatch;
  let sp = 0;
  let spp = 0;
  for (const t of rows) {
    const p = a0 * t.work + b0 * t.dispatches;
    sp += p;
    spp += (p * p) / t.ms;
  }
  const scale = spp > 0 ? sp / spp : 1;
  return done(scale * a0, scale * b0);
}

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
 * Pairs the unsharded block kernel evaluates over `seq` tokens: whole workgroups of wgQ rows, each
 * over the K/V tiles of bk keys up to its last row (tiles wholly above the diagonal are skipped,
 * src/gpu/tileWork.ts unshardedWork counts the same). With no padding: s·(s+1)/2, the causal triangle.
 */
function causalPairs(seq: number, tiles: TilePadding): number {
  let pairs = 0;
  for (let q0 = 0; q0 < seq; q0 += tiles.wgQ) pairs += tiles.wgQ * padTo(Math.min(seq, q0 + tiles.wgQ), tiles.bk);
  return tiles.wgQ === 1 && tiles.bk === 1 ? (seq * (seq + 1)) / 2 : pairs;
}

/**
 * What running `plan` costs: the device bytes resident at the busiest step of the sharded run (or
 * of the unsharded reference, which runs after it), the JS bytes of inputs and outputs, and the
 * FLOPs and dispatches of each part (sharded forward, unsharded forward, and their backward passes
 * when `backward` and the plan has one). With `to`, the price of the same schedule at those sizes
 * (token counts scale with seq, buffers with heads and head dim): the clamp's search uses it so that
 * it builds one execution plan per candidate it keeps, not per candidate it tries.
 */
export function priceExecution(plan: ExecPlan, backend: 'gpu' | 'cpu', tiles: TilePadding = NO_PADDING, to?: Shrink, backward = true): ExecutionPrice {
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
  // Each block dispatch: whole workgroups of wgQ rows over whole K/V tiles (4 FLOPs per pair per dim: QKᵀ and PV).
  let sharded = 0;
  for (const step of plan.steps) {
    for (const op of step.compute) sharded += padTo(Math.ceil(op.tq * fs), tiles.wgQ) * padTo(Math.ceil(op.tkv * fs), tiles.bk) * Math.max(1, Math.round((op.heads.end - op.heads.start) * fh)) * 4 * D;
  }
  const causal = 4 * H * D * causalPairs(S, tiles);
  const forwardDispatches = plan.steps.reduce((n, st) => n + st.compute.length + st.finalise.length, 0);
  const reference: RunPart = 'unsharded forward';
  const parts: PartPrice[] = [
    { part: 'sharded forward', work: sharded, dispatches: forwardDispatches },
    // On the CPU: the float64 reference (no dispatch).
    { part: reference, work: causal, dispatches: backend === 'gpu' ? 1 : 0 },
  ];
  // The backward phase (src/gpu/verify.ts runs it after the forward): BACKWARD_WORK_FACTOR × the
  // forward's FLOPs, plus its preprocess, reduction and final-gather dispatches; the unsharded
  // backward is a preprocess and a backward dispatch.
  const b = backward ? plan.backward : null;
  if (b) {
    const dispatches = b.steps.reduce((n, st) => n + st.compute.length + st.preprocess.length + st.reduce.length, 0) + b.gather.adds.length;
    parts.push({ part: 'sharded backward', work: BACKWARD_WORK_FACTOR * sharded, dispatches });
    parts.push({ part: 'unsharded backward', work: BACKWARD_WORK_FACTOR * causal, dispatches: backend === 'gpu' ? 2 : 0 });
  }
  const work = parts.reduce((n, p) => n + p.work, 0);
  const dispatches = parts.reduce((n, p) => n + p.dispatches, 0);
  if (backend === 'cpu') {
    // Per-rank arrays (≈ the sharded peak) plus inputs, the merged output and the float64 reference rows.
    return { deviceBytes: 0, hostBytes: inputs + peak + 3 * output, work, dispatches, parts };
  }
  // Host: inputs, the read-back copies of both outputs and the merged output.
  return { deviceBytes: Math.max(peak + output, unsharded + output), hostBytes: inputs + 4 * output, work, dispatches, parts };
}

const formatMs = (ms: number): string => formatSeconds(ms / 1000);

/** The first budget line `price` exceeds (byte limits are exclusive, the dispatch and time caps inclusive), or null when it fits. */
export function overBudget(price: ExecutionPrice, budget: ExecutionBudget): string | null {
  if (budget.backend === 'gpu' && price.deviceBytes >= budget.maxDeviceBytes) return `GPU memory ${formatBytes(price.deviceBytes)} ≥ ${formatBytes(budget.maxDeviceBytes)}`;
  if (price.hostBytes >= budget.maxHostBytes) return `page memory ${formatBytes(price.hostBytes)} ≥ ${formatBytes(budget.maxHostBytes)}`;
  if (price.dispatches > budget.maxDispatches) return `${price.dispatches.toLocaleString('en-US')} dispatches > ${budget.maxDispatches.toLocaleString('en-US')}`;
  const rates = ratesOf(budget);
  if (rates && budget.maxGpuMs !== null) {
    const ms = estimateGpuMs(price.parts, rates);
    if (ms > budget.maxGpuMs) return `estimated GPU time ${formatMs(ms)} > ${formatMs(budget.maxGpuMs)} on this adapter`;
    return null;
  }
  if (price.work >= budget.maxWork) return `work ${formatFlops(price.work)} ≥ ${formatFlops(budget.maxWork)}`;
  return null;
}

/** The budget's time rates (GPU), or null (CPU: a work line instead). */
export function ratesOf(budget: ExecutionBudget): GpuTimeRates | null {
  return budget.flopPerMs !== null && budget.msPerDispatch !== null ? { flopPerMs: budget.flopPerMs, msPerDispatch: budget.msPerDispatch } : null;
}

export function formatFlops(flops: number): string {
  if (flops >= 1e12) return `${(flops / 1e12).toFixed(1)} TFLOP`;
  if (flops >= 1e9) return `${(flops / 1e9).toFixed(1)} GFLOP`;
  return `${(flops / 1e6).toFixed(1)} MFLOP`;
}

/** "0.24 GFLOP/s and 1.2 ms per dispatch": the time model's rates. */
export function describeRates(rates: GpuTimeRates): string {
  const perDispatch = rates.msPerDispatch >= 0.1 ? `${rates.msPerDispatch.toFixed(rates.msPerDispatch >= 10 ? 0 : 1)} ms` : `${(rates.msPerDispatch * 1000).toFixed(0)} µs`;
  return `${((rates.flopPerMs * 1000) / 1e9).toFixed(2)} GFLOP/s and ${perDispatch} per dispatch`;
}

/** One line for the page: what the budget is and where its rates come from. */
export function describeBudget(budget: ExecutionBudget): string {
  if (budget.backend === 'cpu') return `CPU budget: ${formatFlops(budget.maxWork)} and ${formatBytes(budget.maxHostBytes)} per run, in a worker.`;
  const rates = ratesOf(budget);
  const source = budget.measured
    ? `measured on this adapter (fitted to ${budget.timedParts} timed part${budget.timedParts === 1 ? '' : 's'} of completed runs)`
    : `assumed for a ${budget.softwareAdapter ? 'software' : 'hardware'} adapter until the first run measures them`;
  return `GPU budget per run: ${formatMs(budget.maxGpuMs ?? 0)} of estimated GPU time and ${budget.maxDispatches.toLocaleString('en-US')} dispatches, at ${rates ? describeRates(rates) : '?'} ${source}; ${formatBytes(budget.maxDeviceBytes)} of GPU memory, ${formatBytes(budget.maxHostBytes)} of page memory.`;
}

/**
 * The executed run for `requested` within `budget`: the requested size, forward and backward, when
 * it fits. Else, keeping the backward: the largest multiple of 2·ranks below the requested execSeq
 * whose price fits (bytes scale with the tokens, work with their square); and when even the smallest
 * execSeq is over (at 64 ranks the workgroup padding of ranks² block dispatches dominates), heads
 * halved (K/V heads with them while they divide), then the head dimension. When no size fits with
 * the backward (its dispatches alone are over: a software adapter at many ranks), the backward is
 * dropped and the same search runs for the forward alone. Candidates are priced by scaling the
 * requested plan; only the chosen one is built (and priced again exactly). Allocates no tensor data.
 * Throws (a sentence for the page) when not even the smallest forward-only run fits.
 */
export function chooseExecution(requested: Params, budget: ExecutionBudget, tiles: TilePadding = NO_PADDING): ChosenExecution {
  const rates = ratesOf(budget);
  const estimate = (price: ExecutionPrice | null): number | null => (price && rates ? estimateGpuMs(price.parts, rates) : null);
  // Plans built, by size: a plan is the same with or without the backward (only its price differs),
  // and at 64 ranks one build takes 0.1–1 s.
  const built = new Map<string, { params: Params; schedule: Schedule; plan: ExecPlan | null }>();
  const build = (size: Shrink, backward: boolean): Omit<ChosenExecution, 'clamps'> => {
    const key = `${size.seq}/${size.heads}/${size.kvHeads}/${size.headDim}`;
    let entry = built.get(key);
    if (!entry) {
      const params: Params = { ...requested, execSeq: size.seq, seq: size.seq, heads: size.heads, kvHeads: size.kvHeads, headDim: size.headDim };
      const schedule = buildSchedule(params);
      entry = { params, schedule, plan: schedule.valid ? buildExecPlan(schedule, { heads: size.heads, kvHeads: size.kvHeads, headDim: size.headDim }) : null };
      built.set(key, entry);
    }
    const price = entry.plan ? priceExecution(entry.plan, budget.backend, tiles, undefined, backward) : null;
    return { ...entry, price, runBackward: backward, estimatedGpuMs: estimate(price) };
  };
  const asked: Shrink = { seq: requested.execSeq, heads: requested.heads, kvHeads: requested.kvHeads, headDim: requested.headDim };
  // Price from a small plan of the same schedule scaled up: building the plan of a hostile size
  // (16K tokens at 64 ranks) takes seconds and hundreds of MB of positions; a 4·2·ranks one does not.
  const unit = Math.min(asked.seq, 2 * requested.ranks);
  const baseSeq = asked.seq <= 4 * unit ? asked.seq : 4 * unit;
  const base = build({ ...asked, seq: baseSeq }, true);
  if (!base.price || !base.plan) return { ...base, params: { ...base.params, execSeq: asked.seq, seq: asked.seq }, clamps: [] };
  const plan = base.plan;
  // A plan without backward steps is not a budget matter: the run reports plan.backwardError itself.
  const hasBackward = plan.backward !== null;
  const price = (size: Shrink, backward: boolean): ExecutionPrice => priceExecution(plan, budget.backend, tiles, size, backward);
  const askedPrice = price(asked, true);
  const over = overBudget(askedPrice, budget);
  if (!over) {
    const exact = baseSeq === asked.seq ? base : build(asked, true);
    if (exact.price && !overBudget(exact.price, budget)) return { ...exact, clamps: [] };
  }
  const overText = over ?? 'the exact price of the requested size';

  // Candidates, largest first: execSeq down to 2·ranks, then heads, then head dim.
  const S = requested.execSeq;
  const candidates: Shrink[] = [asked];
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
  const passes = hasBackward ? [true, false] : [true];
  for (const backward of passes) {
    for (const [i, candidate] of candidates.entries()) {
      if (i === 0 && backward) continue; // the request itself, priced above
      if (overBudget(price(candidate, backward), budget) !== null) continue;
      const chosen = build(candidate, backward);
      if (!chosen.price || overBudget(chosen.price, budget)) continue; // e.g. Ulysses needs the heads to divide among the ranks
      // Each clamp names the line it answers: a field the one the requested size was over (for the
      // run it is part of), the backward the one this size was over with it.
      const fieldsOver = backward ? overText : (overBudget(price(asked, false), budget) ?? overText);
      const clamps: Clamp[] = [];
      if (candidate.seq < asked.seq) clamps.push({ field: 'execSeq', requested: asked.seq, used: candidate.seq, over: fieldsOver });
      if (candidate.heads < asked.heads) clamps.push({ field: 'heads', requested: asked.heads, used: candidate.heads, over: fieldsOver });
      if (candidate.headDim < asked.headDim) clamps.push({ field: 'headDim', requested: asked.headDim, used: candidate.headDim, over: fieldsOver });
      if (!backward) clamps.push({ field: 'backward', requested: 1, used: 0, over: overBudget(price(candidate, true), budget) ?? overText });
      return { ...chosen, clamps };
    }
  }
  const smallest = price(size, false);
  const why = overBudget(smallest, budget) ?? overText;
  throw new Error(`Even the forward pass alone at ${size.seq} executed tokens × ${size.heads} heads × ${size.headDim} is over this adapter's execution budget (${why}${rates ? `, ${smallest.dispatches.toLocaleString('en-US')} dispatches at ${describeRates(rates)}` : ''}); use fewer ranks.`);
}
