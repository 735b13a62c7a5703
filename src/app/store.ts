// The app's one mutable state: the Params and what derives from them synchronously.
// The UI calls setParams; everything else subscribes. Each change bumps `version`, so that
// asynchronous results (GPU verification) can tell whether they are stale.
//
// Frame budget: a change costs plan() plus every subscriber (readouts, scene, URL). So that a burst
// of changes (a slider drag, a host page setting the hash many times) costs one frame's work, not
// one per change:
// - the plan is computed lazily, on first read of `state.plan`, and cached per state, so changes
//   that nobody reads in between cost nothing;
// - subscribers are notified once per animation frame (or within NOTIFY_FALLBACK_MS when frames do
//   not run, e.g. a hidden tab), with the latest state and the state they saw last.
// - a plan reuses the last one computed where the change cannot touch it (model/plan.ts replan):
//   a verification-only field (seed, execSeq) keeps the whole plan, a pricing field (model size,
//   ZeRO, hardware) keeps the schedule, so the scene keeps its build too.
// plan() stays on the main thread: at 64 ranks its Plan (the schedule) is 6–11 MB of objects, and
// structured-cloning it back from a worker costs more (60–130 ms measured) than computing it.

import { checkConsistency, type ParamIssue, type Params } from '../model/params.ts';
import { replan, type Plan } from '../model/plan.ts';

export interface AppState {
  readonly params: Readonly<Params>;
  readonly plan: Plan;
  readonly version: number;
}

type Listener = (state: AppState, previous: AppState) => void;

/** Notify within this many ms even when no animation frame comes (hidden tab, throttled iframe). */
const NOTIFY_FALLBACK_MS = 100;

/** A state whose plan is computed on first read. */
function lazyState(params: Readonly<Params>, version: number, planOf: (p: Readonly<Params>) => Plan): AppState {
  let cached: Plan | undefined;
  return {
    params,
    version,
    get plan(): Plan {
      cached ??= planOf(params);
      return cached;
    },
  };
}

export interface StoreOptions {
  /** Notify synchronously inside setParams (node tests, scripts). Default: once per frame in a page. */
  readonly sync?: boolean;
}

export class Store {
  #state: AppState;
  /** The state subscribers last saw (their `previous` on the next notification). */
  #notified: AppState;
  readonly #listeners = new Set<Listener>();
  readonly #sync: boolean;
  #pending = false;
  #raf = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The plan computed last (for any state): what the next plan may reuse. */
  #lastPlan: Plan | null = null;
  /** Plan computations and notifications, for the interaction bench and tests. */
  readonly stats = { plans: 0, planMs: 0, notifications: 0, notifyMs: 0 };

  constructor(params: Params, options: StoreOptions = {}) {
    this.#sync = options.sync ?? typeof requestAnimationFrame !== 'function';
    this.#state = lazyState(Object.freeze({ ...params }), 0, this.#plan);
    this.#notified = this.#state;
  }

  readonly #plan = (params: Readonly<Params>): Plan => {
    const t0 = performance.now();
    const result = replan(params as Params, this.#lastPlan);
    this.#lastPlan = result;
    this.stats.plans++;
    this.stats.planMs += performance.now() - t0;
    return result;
  };

  get state(): AppState {
    return this.#state;
  }

  /** Applies a partial change; returns the cross-field issues it raised (already fixed in the state). */
  setParams(change: Partial<Params>): ParamIssue[] {
    const next: Params = { ...this.#state.params, ...change };
    const issues = checkConsistency(next);
    if (paramsEqual(next, this.#state.params)) return issues;
    this.#state = lazyState(Object.freeze(next), this.#state.version + 1, this.#plan);
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
    this.stats.notifications++;
    this.stats.notifyMs += performance.now() - t0;
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
