// The longest sequence that fits in a GPU's memory for a strategy and rank count, and the fewest
// ranks that fit a target sequence, both decided by plan() itself: "fits" means the schedule is
// valid and every rank's priced peak is within the GPU's capacity (plan.oom is false). So these
// answers move with any change to the cost model without a second copy of its formulas.
//
// The searches are generators that yield the Params they want priced and receive that plan's
// Probe back. runSearch() drives them synchronously (CLI, tests); the page drives the same
// generators a few plans per slice, with a cache, so a 64-rank search never blocks a slider.

import type { Params } from './params.ts';
import { MAX_RANKS } from './params.ts';
import { plan as planOf, type MemoryCategories, type Plan } from './plan.ts';

/** A search asks for params to be priced (yield) and gets their probe back (next(probe)). */
export type Search<T> = Generator<Params, T, Probe>;

/** Searching stops here: 2^40 tokens; above it a model "fits" at every length we would report. */
export const SEQ_SEARCH_LIMIT = 2 ** 40;

export interface Probe {
  readonly valid: boolean;
  readonly reason?: string;
  /** Highest per-rank peak (0 for an invalid plan). */
  readonly peakBytes: number;
  readonly capacityBytes: number;
  readonly fits: boolean;
  /** What is resident at the peak rank's peak step (sums to peakBytes); null when invalid. */
  readonly atPeak: MemoryCategories | null;
  /** The same model on one GPU without SP (plan.baseline). */
  readonly baselinePeakBytes: number;
}

/** The highest peak over the ranks of a plan. */
export function planPeak(p: Plan): number {
  let peak = 0;
  for (const r of p.perRank) if (r.memory.peak > peak) peak = r.memory.peak;
  return peak;
}

export function probeOf(p: Plan): Probe {
  const valid = p.valid && p.perRank.length > 0;
  let worst = p.perRank[0];
  for (const r of p.perRank) if (worst && r.memory.peak > worst.memory.peak) worst = r;
  return {
    valid,
    ...(valid ? {} : { reason: p.reason ?? 'invalid parameters' }),
    peakBytes: valid ? planPeak(p) : 0,
    capacityBytes: p.gpu.memoryBytes,
    fits: valid && !p.oom,
    atPeak: valid && worst ? { ...worst.memory.atPeak } : null,
    baselinePeakBytes: p.baseline.memory.peak,
  };
}

/** Prices params with plan() and keeps only the probe. */
export function probe(params: Params): Probe {
  return probeOf(planOf(params));
}

export interface MaxSeqResult {
  /** Largest sequence length that fits; 0 when not even one token does; null when the strategy cannot run these params. */
  readonly maxSeq: number | null;
  /** True when the search hit SEQ_SEARCH_LIMIT without running out of memory. */
  readonly unbounded: boolean;
  readonly reason?: string;
  /** Plans priced to find it. */
  readonly probes: number;
}

/**
 * Largest seq with fits(seq), for params' strategy, ranks and everything else. Peak memory is
 * non-decreasing in seq (every category grows with the tokens a rank holds), so the fitting
 * lengths are an interval [1, maxSeq]: bracket it by doubling from params.seq, then narrow the
 * bracket by interpolating the peak (it is close to linear, or quadratic with flash off) with a
 * bisection fallback, until lo fits and lo + 1 does not.
 */
export function* maxSeqSearch(params: Params): Search<MaxSeqResult> {
  let probes = 0;
  const at = function* (seq: number): Generator<Params, Probe, Probe> {
    probes++;
    return yield { ...params, seq };
  };
  const start = Math.min(SEQ_SEARCH_LIMIT, Math.max(1, Math.round(params.seq)));
  const first = yield* at(start);
  if (!first.valid) return { maxSeq: null, unbounded: false, reason: first.reason ?? 'invalid parameters', probes };
  const capacity = first.capacityBytes;
  // Bracket: lo fits (or is 0), hi does not (or is the limit + 1).
  let lo = 0;
  let loPeak = 0;
  let hi = SEQ_SEARCH_LIMIT + 1;
  let hiPeak = Number.POSITIVE_INFINITY;
  if (first.fits) {
    lo = start;
    loPeak = first.peakBytes;
    for (let s = start * 2; ; s *= 2) {
      const n = Math.min(SEQ_SEARCH_LIMIT, s);
      const p = yield* at(n);
      if (!p.valid) return { maxSeq: null, unbounded: false, reason: p.reason ?? 'invalid parameters', probes };
      if (!p.fits) {
        hi = n;
        hiPeak = p.peakBytes;
        break;
      }
      lo = n;
      loPeak = p.peakBytes;
      if (n === SEQ_SEARCH_LIMIT) return { maxSeq: n, unbounded: true, probes };
    }
  } else {
    hi = start;
    hiPeak = first.peakBytes;
    for (let s = Math.floor(start / 2); ; s = Math.floor(s / 2)) {
      if (s < 1) return { maxSeq: 0, unbounded: false, probes };
      const p = yield* at(s);
      if (!p.valid) return { maxSeq: null, unbounded: false, reason: p.reason ?? 'invalid parameters', probes };
      if (p.fits) {
        lo = s;
        loPeak = p.peakBytes;
        break;
      }
      hi = s;
      hiPeak = p.peakBytes;
    }
  }
  // Narrow: secant guess for where the peak crosses the capacity, kept strictly inside (lo, hi);
  // every other probe is a bisection, so the bracket at least halves every two probes.
  let bisect = false;
  while (hi - lo > 1) {
    let mid: number;
    if (!bisect && Number.isFinite(hiPeak) && hiPeak > loPeak) {
      const guess = lo + ((capacity - loPeak) / (hiPeak - loPeak)) * (hi - lo);
      mid = Math.min(hi - 1, Math.max(lo + 1, Math.floor(guess)));
    } else {
      mid = Math.floor((lo + hi) / 2);
    }
    const before = hi - lo;
    const p = yield* at(mid);
    if (!p.valid) return { maxSeq: null, unbounded: false, reason: p.reason ?? 'invalid parameters', probes };
    if (p.fits) {
      lo = mid;
      loPeak = p.peakBytes;
    } else {
      hi = mid;
      hiPeak = p.peakBytes;
    }
    // Interpolation that shrank the bracket by less than half is followed by a bisection.
    bisect = !bisect && hi - lo > before / 2;
  }
  return { maxSeq: lo, unbounded: false, probes };
}

export interface MinRanksResult {
  /** Fewest ranks (1..MAX_RANKS) with which the strategy runs and fits; null when none does. */
  readonly minRanks: number | null;
  readonly reason?: string;
  readonly probes: number;
}

/**
 * Fewest ranks P in 1..MAX_RANKS for which params (with ranks = P) is valid and fits. Validity is
 * not monotone in P (Ulysses needs P to divide the heads, USP needs U to divide P), and memory
 * only nearly so (uneven shards), so this walks up from P = 1 and stops at the first P that fits;
 * with doubling steps first to skip the hopeless range cheaply, then every P in the last gap.
 */
export function* minRanksSearch(params: Params): Search<MinRanksResult> {
  let probes = 0;
  let anyValid = false;
  let lastReason: string | undefined;
  const at = function* (ranks: number): Generator<Params, Probe, Probe> {
    probes++;
    const p = yield { ...params, ranks };
    if (p.valid) anyValid = true;
    else lastReason = p.reason;
    return p;
  };
  // Doubling: the first power of two that fits bounds the answer from above. Memory per rank
  // does not grow with P for a fixed seq (each rank's share shrinks), so a P below a power of two
  // that does not fit is only checked in the final gap.
  let upper: number | null = null;
  let below = 0;
  for (let p = 1; p <= MAX_RANKS; p *= 2) {
    const r = yield* at(p);
    if (r.fits) {
      upper = p;
      break;
    }
    if (r.valid) below = p;
  }
  // Every P in (below, upper) — or (below, MAX_RANKS] when no power of two fits — in order.
  const end = upper ?? MAX_RANKS + 1;
  for (let p = below + 1; p < end; p++) {
    if ((p & (p - 1)) === 0) continue; // powers of two already probed
    const r = yield* at(p);
    if (r.fits) return { minRanks: p, probes };
  }
  if (upper !== null) return { minRanks: upper, probes };
  const reason = anyValid || !lastReason ? `${params.seq} tokens do not fit on any rank count from 1 to ${MAX_RANKS}` : `cannot run at any rank count from 1 to ${MAX_RANKS} (e.g. ${lastReason})`;
  return { minRanks: null, probes, reason };
}

/** Drives a search to its answer with synchronous plans (or another evaluator, e.g. a cache). */
export function runSearch<T>(search: Search<T>, evaluate: (params: Params) => Probe = probe): T {
  let step = search.next(undefined as unknown as Probe);
  while (!step.done) step = search.next(evaluate(step.value));
  return step.value;
}

export interface FitAnswer {
  strategy: Params['strategy'];
  ranks: number;
  seq: number;
  fits: boolean;
  maxSeq?: number | null;
  minRanks?: number | null;
  peakBytes: number;
  capacityBytes: number;
  reason?: string;
  unbounded?: boolean;
}

/**
 * The `fit --json` contract: with mode 'maxSeq', seq is the longest that fits at params.ranks
 * (peakBytes is priced there); with 'minRanks', ranks is the fewest that fit params.seq. When
 * there is no answer, seq / ranks stay as given and fits is false.
 */
export function fit(params: Params, mode: 'maxSeq' | 'minRanks', evaluate: (params: Params) => Probe = probe): FitAnswer {
  if (mode === 'maxSeq') {
    const r = runSearch(maxSeqSearch(params), evaluate);
    const seq = r.maxSeq !== null && r.maxSeq > 0 ? r.maxSeq : params.seq;
    const at = evaluate({ ...params, seq });
    return {
      strategy: params.strategy,
      ranks: params.ranks,
      seq,
      fits: at.fits,
      maxSeq: r.maxSeq,
      peakBytes: at.peakBytes,
      capacityBytes: at.capacityBytes,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.unbounded ? { unbounded: true } : {}),
    };
  }
  const r = runSearch(minRanksSearch(params), evaluate);
  const ranks = r.minRanks ?? params.ranks;
  const at = evaluate({ ...params, ranks });
  return {
    strategy: params.strategy,
    ranks,
    seq: params.seq,
    fits: at.fits,
    minRanks: r.minRanks,
    peakBytes: at.peakBytes,
    capacityBytes: at.capacityBytes,
    ...(r.minRanks === null ? { reason: r.reason ?? `does not fit ${params.seq} tokens on up to ${MAX_RANKS} ranks` } : {}),
  };
}
