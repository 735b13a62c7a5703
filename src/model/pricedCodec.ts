// A priced plan (a Plan without its schedule) as a few objects and flat numbers, so the planner
// worker can hand it to the page by transfer. What is large in it is per rank and per step: at 64
// ranks the timeline holds ~8,300 RankStepTime objects (130 steps × 64 ranks) and each rank two
// per-step series, ~0.9 MB of JSON; structured-cloning that object graph cost the page ~4 ms of
// main thread per change, plus the garbage it left. Here the per-rank step times travel as one
// Float64Array and are made into objects only when a step's are read (the timeline chart reads
// them when it is drawn); a rank's per-step series are copied out when read, and `memoryAtStep`
// reads one value without that (the memory chart reads every rank's at the shown step).
//
// Layout:
//   stepTimes: for step s, ranks stepTimeAt[s] … stepTimeAt[s + 1] − 1, 4 numbers each
//     (compute, comm, exposed, idle: RankStepTime's fields in that order);
//   series: for rank r, memoryByStep then flopsByStep, at seriesAt[2r] and seriesAt[2r + 1]
//     (each runs to the next offset).

import type { Plan, RankCost } from './plan.ts';
import { numbersAt } from './scheduleCodec.ts';
import type { RankStepTime, StepTime, Timeline } from './timeline.ts';

export type PricedPlan = Omit<Plan, 'schedule'>;

type StepShell = Omit<StepTime, 'perRank'>;
type RankShell = Omit<RankCost, 'memoryByStep' | 'flopsByStep'>;

export interface EncodedPriced {
  /** The plan with the per-step and per-rank series taken out. */
  readonly head: Omit<PricedPlan, 'perRank' | 'timeline'> & {
    readonly perRank: readonly RankShell[];
    readonly timeline: Omit<Timeline, 'steps'> & { readonly steps: readonly StepShell[] };
  };
  readonly stepTimes: Float64Array;
  readonly stepTimeAt: Uint32Array;
  readonly series: Float64Array;
  readonly seriesAt: Uint32Array;
}

const FIELDS = 4;

export function encodePriced(priced: PricedPlan): EncodedPriced {
  const { timeline, perRank } = priced;
  const stepTimeAt = new Uint32Array(timeline.steps.length + 1);
  for (const [s, step] of timeline.steps.entries()) stepTimeAt[s + 1] = (stepTimeAt[s] as number) + step.perRank.length;
  const stepTimes = new Float64Array((stepTimeAt[timeline.steps.length] as number) * FIELDS);
  let at = 0;
  for (const step of timeline.steps)
    for (const t of step.perRank) {
      stepTimes[at++] = t.compute;
      stepTimes[at++] = t.comm;
      stepTimes[at++] = t.exposed;
      stepTimes[at++] = t.idle;
    }
  const seriesAt = new Uint32Array(perRank.length * 2 + 1);
  perRank.forEach((r, i) => {
    seriesAt[2 * i + 1] = (seriesAt[2 * i] as number) + r.memoryByStep.length;
    seriesAt[2 * i + 2] = (seriesAt[2 * i + 1] as number) + r.flopsByStep.length;
  });
  const series = new Float64Array(seriesAt[perRank.length * 2] as number);
  perRank.forEach((r, i) => {
    series.set(r.memoryByStep, seriesAt[2 * i]);
    series.set(r.flopsByStep, seriesAt[2 * i + 1]);
  });
  const steps = timeline.steps.map(({ perRank: _times, ...shell }) => shell);
  // Ranks mostly cost the same (a balanced layout): equal parts become one object, which the
  // structured clone then copies once (64 ranks' shells were ~1,000 objects to deserialise).
  const parts = new Map<string, unknown>();
  const shared = <T>(part: T): T => {
    if (typeof part !== 'object' || part === null) return part;
    const key = JSON.stringify(part);
    const hit = parts.get(key) as T | undefined;
    if (hit !== undefined) return hit;
    parts.set(key, part);
    return part;
  };
  const ranks = perRank.map(({ memoryByStep: _memory, flopsByStep: _flops, ...shell }) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(shell)) out[k] = shared(v);
    return out as RankShell;
  });
  return { head: { ...priced, perRank: ranks, timeline: { ...timeline, steps } }, stepTimes, stepTimeAt, series, seriesAt };
}

/** The buffers to transfer with an EncodedPriced. */
export function pricedTransferables(encoded: EncodedPriced): ArrayBuffer[] {
  return [encoded.stepTimes.buffer, encoded.stepTimeAt.buffer, encoded.series.buffer, encoded.seriesAt.buffer] as ArrayBuffer[];
}

/** A step whose per-rank times are made from the encoded numbers when first read. */
class LazyStepTime implements StepTime {
  readonly index: number;
  readonly phase: StepTime['phase'];
  readonly wall: number;
  readonly #numbers: Float64Array;
  readonly #from: number;
  readonly #to: number;
  #perRank: readonly RankStepTime[] | undefined;
  constructor(shell: StepShell, numbers: Float64Array, from: number, to: number) {
    this.index = shell.index;
    this.phase = shell.phase;
    this.wall = shell.wall;
    this.#numbers = numbers;
    this.#from = from;
    this.#to = to;
  }
  get perRank(): readonly RankStepTime[] {
    if (!this.#perRank) {
      const n = this.#numbers;
      const times: RankStepTime[] = [];
      for (let i = this.#from * FIELDS; i < this.#to * FIELDS; i += FIELDS) times.push({ compute: n[i] as number, comm: n[i + 1] as number, exposed: n[i + 2] as number, idle: n[i + 3] as number });
      this.#perRank = times;
    }
    return this.#perRank;
  }
  /** Plain data, as JSON sees a step. */
  toJSON(): StepTime {
    return { index: this.index, phase: this.phase, perRank: this.perRank, wall: this.wall };
  }
}

// The shell's fields, assigned in the constructor.
interface LazyRankCost extends RankShell {}

/** A rank's costs whose per-step series are copied out of the encoded numbers when first read. */
class LazyRankCost implements RankCost {
  readonly #series: Float64Array;
  /** Where memoryByStep, then flopsByStep, start, and where flopsByStep ends. */
  readonly #at: readonly [number, number, number];
  #memory: number[] | undefined;
  #flops: number[] | undefined;
  constructor(shell: RankShell, series: Float64Array, at: readonly [number, number, number]) {
    Object.assign(this, shell);
    this.#series = series;
    this.#at = at;
  }
  get memoryByStep(): number[] {
    this.#memory ??= numbersAt(this.#series, this.#at[0], this.#at[1] - this.#at[0]);
    return this.#memory;
  }
  get flopsByStep(): number[] {
    this.#flops ??= numbersAt(this.#series, this.#at[1], this.#at[2] - this.#at[1]);
    return this.#flops;
  }
  /** memoryByStep at `step` (the last step's past the end), without copying the series out. */
  memoryAt(step: number): number | undefined {
    const [from, to] = this.#at;
    return to > from ? this.#series[from + Math.max(0, Math.min(step, to - from - 1))] : undefined;
  }
  /** Plain data, as JSON sees a rank's costs. */
  toJSON(): RankCost {
    return { ...this, memoryByStep: this.memoryByStep, flopsByStep: this.flopsByStep };
  }
}

/** The rank's modelled bytes resident at `step` (the last step's past the end): one number read, decoded or not. */
export function memoryAtStep(rank: { readonly memoryByStep: readonly number[] }, step: number): number | undefined {
  if (rank instanceof LazyRankCost) return rank.memoryAt(step);
  return rank.memoryByStep[Math.max(0, Math.min(step, rank.memoryByStep.length - 1))];
}

export function decodePriced(encoded: EncodedPriced): PricedPlan {
  const { head, stepTimes, stepTimeAt, series, seriesAt } = encoded;
  const steps = head.timeline.steps.map((shell, s) => new LazyStepTime(shell, stepTimes, stepTimeAt[s] as number, stepTimeAt[s + 1] as number));
  const perRank = head.perRank.map((shell, i) => new LazyRankCost(shell, series, [seriesAt[2 * i] as number, seriesAt[2 * i + 1] as number, seriesAt[2 * i + 2] as number]));
  return { ...head, perRank, timeline: { ...head.timeline, steps } };
}
