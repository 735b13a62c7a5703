// The app's one mutable state: the Params and what derives from them synchronously.
// The UI calls setParams; everything else subscribes. Each change bumps `version`, so that
// asynchronous results (GPU verification) can tell whether they are stale.

import { checkConsistency, type ParamIssue, type Params } from '../model/params.ts';
import { plan, type Plan } from '../model/plan.ts';

export interface AppState {
  readonly params: Readonly<Params>;
  readonly plan: Plan;
  readonly version: number;
}

type Listener = (state: AppState, previous: AppState) => void;

export class Store {
  #state: AppState;
  readonly #listeners = new Set<Listener>();

  constructor(params: Params) {
    this.#state = { params: Object.freeze({ ...params }), plan: plan(params), version: 0 };
  }

  get state(): AppState {
    return this.#state;
  }

  /** Applies a partial change; returns the cross-field issues it raised (already fixed in the state). */
  setParams(change: Partial<Params>): ParamIssue[] {
    const next: Params = { ...this.#state.params, ...change };
    const issues = checkConsistency(next);
    if (paramsEqual(next, this.#state.params)) return issues;
    const previous = this.#state;
    this.#state = { params: Object.freeze(next), plan: plan(next), version: previous.version + 1 };
    for (const listener of this.#listeners) listener(this.#state, previous);
    return issues;
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

function paramsEqual(a: Params, b: Readonly<Params>): boolean {
  for (const key of Object.keys(a) as (keyof Params)[]) if (a[key] !== b[key]) return false;
  return true;
}
