import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS } from '../model/params.ts';
import { plan, type Plan } from '../model/plan.ts';
import { Planner } from './planner.ts';
import { Store, type PlannerPort, type PlanReply, type PlanRequest } from './store.ts';

/** The planner worker, answering when told: plan.worker.ts's Planner, its messages cloned (transfers included). */
class FakePlanner implements PlannerPort {
  onmessage: ((event: MessageEvent<PlanReply>) => void) | null = null;
  readonly requests: PlanRequest[] = [];
  readonly #planner = new Planner();
  postMessage(request: PlanRequest): void {
    this.requests.push(structuredClone(request));
  }
  /** Answers the oldest request (or fails it). */
  answer(fail = false): void {
    const request = this.requests.shift();
    if (!request) throw new Error('no request to answer');
    const { reply, transfer } = this.#planner.answer(request);
    const data = fail ? { version: request.version, error: 'worker failed' } : structuredClone(reply, { transfer });
    this.onmessage?.({ data } as MessageEvent<PlanReply>);
  }
}

const base = { ...DEFAULT_PARAMS, strategy: 'ring' as const, ranks: 8 };

describe('Store planning off the main thread', () => {
  it('keeps one request in flight and asks for the newest params when it is answered', () => {
    const planner = new FakePlanner();
    const store = new Store(base, { sync: true, planner });
    const seen: Plan[] = [];
    store.onPlan((p) => seen.push(p));
    store.setParams({ seq: 65536 });
    store.setParams({ seq: 131072 });
    store.setParams({ seq: 262144 });
    expect(planner.requests.map((r) => r.params.seq)).toEqual([65536]);
    expect(store.stats.plans).toBe(0); // nothing priced on the main thread
    planner.answer();
    // The answer is shown (it is newer than what the page had), and the newest params are asked for; 131072 is skipped.
    expect(seen.map((p) => p.params.seq)).toEqual([65536]);
    expect(planner.requests.map((r) => r.params.seq)).toEqual([262144]);
    planner.answer();
    expect(seen.map((p) => p.params.seq)).toEqual([65536, 262144]);
    const last = store.pricedPlan;
    // The page's plan is the worker's numbers with the page's own schedule (the scene's, by identity).
    expect(last.schedule).toBe(store.state.schedule);
    expect(last).toBe(store.state.plan);
    expect(store.stats.plans).toBe(0);
    expect(JSON.parse(JSON.stringify(last))).toEqual(JSON.parse(JSON.stringify(plan({ ...base, seq: 262144 }))));
  });

  it('keeps the decoded schedule (and its work matrix) across a change that only reprices', () => {
    const planner = new FakePlanner();
    const store = new Store(base, { sync: true, planner });
    store.setParams({ seq: 65536 });
    planner.answer();
    const schedule = store.pricedPlan.schedule;
    expect(store.matrixOf(schedule)?.n).toBeGreaterThan(0);
    store.setParams({ zero: 3 });
    planner.answer();
    expect(store.pricedPlan.params.zero).toBe(3);
    expect(store.pricedPlan.schedule).toBe(schedule);
    expect(store.stats.plans + store.stats.schedules).toBe(0);
  });

  it('prices a verification-only change here, without asking the worker', () => {
    const planner = new FakePlanner();
    const store = new Store(base, { sync: true, planner });
    store.setParams({ seq: 65536 });
    planner.answer();
    const before = store.pricedPlan;
    store.setParams({ seed: 7, execSeq: 64 });
    expect(planner.requests).toEqual([]);
    expect(store.pricedPlan).not.toBe(before);
    expect(store.pricedPlan.params.seed).toBe(7);
    expect(store.pricedPlan.perRank).toBe(before.perRank);
  });

  it('a verification-only change made while a plan is in flight follows that plan, with nothing planned here', () => {
    const planner = new FakePlanner();
    const store = new Store(base, { sync: true, planner });
    store.setParams({ seq: 65536 });
    store.setParams({ seed: 11 });
    planner.answer();
    expect(planner.requests).toEqual([]);
    expect(store.pricedVersion).toBe(store.state.version);
    expect(store.pricedPlan.params.seed).toBe(11);
    expect(store.pricedPlan.params.seq).toBe(65536);
    expect(store.state.schedule).toBe(store.pricedPlan.schedule);
    expect(store.stats.schedules).toBe(0); // its plan is the answer's, with the new seed: no schedule built here
  });

  it('state.plan is exact before the worker answers, and the answer does not replace it', () => {
    const planner = new FakePlanner();
    const store = new Store(base, { sync: true, planner });
    const seen: Plan[] = [];
    store.onPlan((p) => seen.push(p));
    store.setParams({ heads: 16, kvHeads: 4 });
    const exact = store.state.plan; // window.shardscope reads this way
    expect(exact.params.heads).toBe(16);
    expect(store.stats.plans).toBe(1);
    planner.answer();
    expect(seen).toEqual([exact]);
    expect(store.state.plan).toBe(exact);
  });

  it('prices here when the worker fails', () => {
    const planner = new FakePlanner();
    const store = new Store(base, { sync: true, planner });
    store.setParams({ ranks: 4 });
    planner.answer(true);
    expect(store.pricedPlan.params.ranks).toBe(4);
    expect(store.pricedPlan.valid).toBe(true);
    expect(store.stats.plans).toBe(1);
  });

  it('without a worker, every notification publishes the plan priced here', () => {
    const store = new Store(base, { sync: true });
    const seen: number[] = [];
    store.onPlan((p) => seen.push(p.params.seq));
    store.setParams({ seq: 65536 });
    store.setParams({ seq: 131072 });
    expect(seen).toEqual([65536, 131072]);
  });

  it('reuses the schedule when only a pricing field changes', () => {
    const store = new Store(base, { sync: true });
    const schedule = store.state.schedule;
    store.setParams({ zero: 3 } );
    expect(store.state.schedule).toBe(schedule);
  });
});
