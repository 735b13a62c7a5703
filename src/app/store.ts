// The app's one mutable state: the Params and what derives from them. The UI calls setParams;
// everything else subscribes. Each change bumps `version`, so that asynchronous results (the
// planner worker, the GPU verification) can tell whether they are stale.
//
// Frame budget (issue #10: ≤ 16 ms of main thread per change at 64 ranks). A change costs only what
// the next frame draws:
// - subscribers are notified once per animation frame (or within NOTIFY_FALLBACK_MS when frames do
//   not run, e.g. a hidden tab), with the latest state and the state they saw last, so a burst of
//   changes (a slider drag, a host page setting the hash many times) costs one frame's work;
// - the plan (the schedule, its pricing, the scene's work matrix: 10–60 ms at 64 ranks) is computed
//   in a worker (plan.worker.ts). One request is in flight at a time, for the newest params: a drag
//   plans the versions the worker keeps up with, not every one. `pricedPlan` is the newest answer,
//   which plan listeners (scene, readouts, charts, panel verdict, step count) draw together, so the
//   picture and the numbers always describe the same params. The answer's schedule arrives encoded
//   and is decoded a step at a time as the scene reads it (model/scheduleCodec.ts), and its priced
//   numbers' per-step series as flat arrays (model/pricedCodec.ts);
// - `state.plan` is exact: the worker's answer when it came, else planned here on first read
//   (window.shardscope's numbers, the PNG export, node tests and scripts without a worker).

import { checkConsistency, type ParamIssue, type Params } from '../model/params.ts';
import { onlyVerificationDiffers, priceSchedule, reschedule, sameSchedule, type Plan } from '../model/plan.ts';
import type { Schedule } from '../model/schedule.ts';
import { decodePriced, type EncodedPriced, type PricedPlan } from '../model/pricedCodec.ts';
import { decodeSchedule, type ScheduleTransport } from '../model/scheduleCodec.ts';
import type { PackedWorkMatrix } from '../scene/matrixTransport.ts';
import { measureSince } from './measure.ts';

export interface AppState {
  readonly params: Readonly<Params>;
  readonly version: number;
  /** These params' schedule, built on first read (the scene's input). */
  readonly schedule: Schedule;
  /** These params' plan: the planner worker's, or planned here on first read when it has not answered. */
  readonly plan: Plan;
}

type Listener = (state: AppState, previous: AppState) => void;
type PlanListener = (plan: Plan) => void;

export interface PlanRequest {
  readonly version: number;
  readonly params: Params;
}
/**
 * The planner's answer: the plan's numbers, its schedule encoded, and the scene's work matrix.
 * schedule and matrix are null when the schedule is the one of the planner's previous answer.
 */
export type PlanReply =
  | { readonly version: number; readonly priced: EncodedPriced; readonly schedule: ScheduleTransport | null; readonly matrix: PackedWorkMatrix | null }
  | { readonly version: number; readonly error: string };
/** The planner worker as the store uses it (a Worker, or a fake in tests). */
export interface PlannerPort {
  postMessage(request: PlanRequest): void;
  onmessage: ((event: MessageEvent<PlanReply>) => void) | null;
  terminate?(): void;
}

export function createPlannerWorker(): PlannerPort | null {
  if (typeof Worker !== 'function') return null;
  return new Worker(new URL('./plan.worker.ts', import.meta.url), { type: 'module', name: 'shardscope-planner' }) as unknown as PlannerPort;
}

/** Notify within this many ms even when no animation frame comes (hidden tab, throttled iframe). */
const NOTIFY_FALLBACK_MS = 100;

/** One params version: its schedule and plan are computed on first read and cached. */
class State implements AppState {
  #schedule: Schedule | undefined;
  #plan: Plan | undefined;
  constructor(
    readonly params: Readonly<Params>,
    readonly version: number,
    readonly store: Store,
  ) {}

  get schedule(): Schedule {
    this.#schedule ??= this.#plan?.schedule ?? this.store.scheduleOf(this.params);
    return this.#schedule;
  }

  get plan(): Plan {
    this.#plan ??= this.store.planHere(this);
    return this.#plan;
  }

  /** Whether the plan is known without pricing. */
  get priced(): boolean {
    return this.#plan !== undefined;
  }

  /** Takes the planner's answer, unless this state was planned here meanwhile. */
  receive(priced: PricedPlan, schedule: Schedule): void {
    this.#plan ??= { ...priced, params: this.params, schedule: this.#schedule ?? schedule };
    this.#schedule ??= this.#plan.schedule;
  }
}

export interface StoreOptions {
  /** Notify synchronously inside setParams (node tests, scripts). Default: once per frame in a page. */
  readonly sync?: boolean;
  /** Where plans are computed off the main thread; without one (node, no Worker) they are planned on notification. */
  readonly planner?: PlannerPort | null;
}

export class Store {
  #state: State;
  /** The state subscribers last saw (their `previous` on the next notification). */
  #notified: State;
  readonly #listeners = new Set<Listener>();
  readonly #planListeners = new Set<PlanListener>();
  readonly #sync: boolean;
  #pending = false;
  #raf = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The schedule built last (for any state): what the next schedule may reuse. */
  #lastSchedule: { readonly params: Readonly<Params>; readonly schedule: Schedule } | null = null;
  /** The newest plan priced (worker or here): what plan listeners were given, and what replan may reuse. */
  #priced: Plan | null = null;
  #pricedVersion = -1;
  readonly #planner: PlannerPort | null;
  /** The state the planner is working on. */
  #inFlight: State | null = null;
  /** The schedule of the planner's last answer (what a null schedule in the next answer means). */
  #answered: Schedule | null = null;
  /** The planner's work matrix of each schedule it answered with. */
  readonly #matrices = new WeakMap<Schedule, PackedWorkMatrix>();
  /**
   * Main-thread work and counts, for tests and benches: `plans`/`planMs` planned here (a cheap copy
   * for verification-only changes, else priced), `schedules`/`scheduleMs` built here, `priced` the
   * planner's answers taken.
   */
  readonly stats = { plans: 0, planMs: 0, schedules: 0, scheduleMs: 0, priced: 0, notifications: 0, notifyMs: 0 };

  constructor(params: Params, options: StoreOptions = {}) {
    this.#sync = options.sync ?? typeof requestAnimationFrame !== 'function';
    this.#planner = options.planner ?? null;
    if (this.#planner)
      this.#planner.onmessage = (event) => {
        const t0 = performance.now();
        this.#receive(event.data); // reading data deserialises the answer: part of its cost
        measureSince('shardscope.answer', t0);
      };
    this.#state = new State(Object.freeze({ ...params }), 0, this);
    this.#notified = this.#state;
  }

  get state(): AppState {
    return this.#state;
  }

  /**
   * The newest priced plan: the current params' once priced, until then the previous params' (a
   * frame or two behind during a drag). What the readouts, charts and comparison draw.
   */
  get pricedPlan(): Plan {
    if (!this.#priced) {
      this.#priced = this.#notified.plan;
      this.#pricedVersion = this.#notified.version;
    }
    return this.#priced;
  }

  /** The pre-built work matrix of `schedule`, when the planner sent one (the scene builds it otherwise). */
  matrixOf(schedule: Schedule): PackedWorkMatrix | null {
    return this.#matrices.get(schedule) ?? null;
  }

  /** The version pricedPlan belongs to. */
  get pricedVersion(): number {
    void this.pricedPlan;
    return this.#pricedVersion;
  }

  /** @internal State's builder: the schedule of `params`, reusing the shown or the last built one where it can. */
  scheduleOf(params: Readonly<Params>): Schedule {
    const t0 = performance.now();
    const shown = this.#priced;
    const schedule = reschedule(params as Params, shown && sameSchedule(params, shown.params) ? shown : this.#lastSchedule);
    this.#lastSchedule = { params, schedule };
    this.stats.schedules++;
    this.stats.scheduleMs += performance.now() - t0;
    return schedule;
  }

  /** @internal State's planner when the worker has not answered (or there is none). */
  planHere(state: AppState): Plan {
    const t0 = performance.now();
    const shown = this.#priced;
    const result = shown && onlyVerificationDiffers(state.params, shown.params) ? { ...shown, params: state.params } : priceSchedule(state.params as Params, state.schedule);
    this.stats.plans++;
    this.stats.planMs += performance.now() - t0;
    return result;
  }

  /** Applies a partial change; returns the cross-field issues it raised (already fixed in the state). */
  setParams(change: Partial<Params>): ParamIssue[] {
    const next: Params = { ...this.#state.params, ...change };
    const issues = checkConsistency(next);
    if (paramsEqual(next, this.#state.params)) return issues;
    this.#state = new State(Object.freeze(next), this.#state.version + 1, this);
    if (this.#sync) this.flush();
    else this.#scheduleNotify();
    return issues;
  }

  /** Notifies subscribers now if a change is pending (tests, or a caller that needs the DOM current). */
  flush(): void {
    if (typeof cancelAnimationFrame === 'function') cancelAnimationFrame(this.#raf);
    clearTimeout(this.#timer);
    this.#pending = false;
    const previous = this.#notified;
    const state = this.#state;
    if (state === previous) return;
    this.#notified = state;
    const t0 = performance.now();
    for (const listener of this.#listeners) listener(state, previous);
    this.#price(state);
    this.stats.notifications++;
    this.stats.notifyMs += performance.now() - t0;
    measureSince('shardscope.change', t0);
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` with each newer priced plan (see pricedPlan). */
  onPlan(listener: PlanListener): () => void {
    this.#planListeners.add(listener);
    return () => this.#planListeners.delete(listener);
  }

  /** Gets `state` priced: here when that is cheap or there is no worker, else by the worker. */
  #price(state: State): void {
    const shown = this.#priced;
    if (state.priced || (shown && onlyVerificationDiffers(state.params, shown.params)) || !this.#planner) return this.#publish(state);
    if (this.#inFlight) return; // its answer asks for the newest state
    this.#inFlight = state;
    this.#planner.postMessage({ version: state.version, params: { ...state.params } });
  }

  #receive(reply: PlanReply): void {
    const state = this.#inFlight;
    this.#inFlight = null;
    if ('priced' in reply) {
      if (reply.schedule) {
        this.#answered = decodeSchedule(reply.schedule);
        if (reply.matrix) this.#matrices.set(this.#answered, reply.matrix);
      }
    } else this.#answered = null;
    if (!state || state.version !== reply.version) return;
    this.stats.priced++;
    // A failed plan in the worker is planned here instead (plan() does not throw on valid params; this is a guard).
    if ('priced' in reply && this.#answered && !state.priced) state.receive(decodePriced(reply.priced), this.#answered);
    this.#publish(state);
    const latest = this.#notified;
    if (latest !== state && !latest.priced) this.#price(latest);
  }

  /** Gives plan listeners `state`'s plan, unless they have a newer one. */
  #publish(state: State): void {
    if (state.version <= this.#pricedVersion) return;
    this.#priced = state.plan;
    this.#pricedVersion = state.version;
    for (const listener of this.#planListeners) listener(this.#priced);
  }

  #scheduleNotify(): void {
    if (this.#pending) return;
    this.#pending = true;
    if (typeof requestAnimationFrame === 'function') this.#raf = requestAnimationFrame(() => this.flush());
    this.#timer = setTimeout(() => this.flush(), NOTIFY_FALLBACK_MS);
  }
}

function paramsEqual(a: Params, b: Readonly<Params>): boolean {
  for (const key of Object.keys(a) as (keyof Params)[]) if (a[key] !== b[key]) return false;
  return true;
}
