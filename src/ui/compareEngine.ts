// Computes the comparison, the longest-fit searches and the memory-vs-seq sweep for the page, a
// slice at a time (a 64-rank plan takes ~40 ms on a slow core and the sweep needs a few hundred).
// The page runs it in compare.worker.ts (CompareWorkerClient below); a slice at a time still lets
// newer params in between. It calls the same model functions the CLI calls (comparisonRow,
// withDistinct, maxSeqSearch), so window.shardscope.comparison equals `compare --json`'s rows.
// Results are cached by the full params they were priced for: moving the sequence slider only
// re-prices the seven table rows; the sweep and the fits (independent of seq) are reused.

import type { Params, StrategyId } from '../model/params.ts';
import { STRATEGY_IDS } from '../model/params.ts';
import { plan as planOf, type MemoryCategories, type Plan } from '../model/plan.ts';
import { comparisonRow, peakRankCategories, withDistinct, type ComparisonRow } from '../model/compare.ts';
import type { CompareReply, CompareRequest } from './compare.worker.ts';
import { maxSeqSearch, minRanksSearch, probeOf, type MaxSeqResult, type MinRanksResult, type Probe, type Search } from '../model/fit.ts';

/** The sweep's sequence lengths: 1K to 10M, three per octave (log x). */
export const SWEEP_MIN = 1024;
export const SWEEP_MAX = 10 * 1024 * 1024;
export function sweepSeqs(): number[] {
  const out: number[] = [];
  for (let i = 0; ; i++) {
    const s = Math.round(SWEEP_MIN * 2 ** (i / 3));
    if (s >= SWEEP_MAX) break;
    out.push(s);
  }
  out.push(SWEEP_MAX);
  return out;
}

export interface SweepPoint {
  readonly seq: number;
  readonly probe: Probe;
}

export interface CompareSnapshot {
  readonly params: Params;
  /** Rows with the cross-strategy `distinct`; maxSeqThatFits is null until its search is done. */
  readonly rows: readonly ComparisonRow[] | null;
  readonly maxSeq: ReadonlyMap<StrategyId, MaxSeqResult>;
  readonly sweep: ReadonlyMap<StrategyId, readonly SweepPoint[]>;
  /** Every row and every fit done: rows equal `compare --json`'s. */
  readonly complete: boolean;
  /** The sweep is done too. */
  readonly done: boolean;
}

export interface MinRanksSnapshot {
  readonly seq: number;
  readonly results: ReadonlyMap<StrategyId, MinRanksResult>;
  readonly done: boolean;
}

/** Identity of a params object for the caches (every field, in a fixed order). */
export function paramsKey(p: Params): string {
  return Object.keys(p)
    .sort()
    .map((k) => `${k}=${String((p as unknown as Record<string, unknown>)[k])}`)
    .join('&');
}

/** A small LRU over a Map (insertion order). */
class Lru<V> {
  readonly #map = new Map<string, V>();
  constructor(readonly limit: number) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, v: V): void {
    this.#map.delete(key);
    this.#map.set(key, v);
    if (this.#map.size > this.limit) this.#map.delete(this.#map.keys().next().value as string);
  }
}

/** Milliseconds of work per slice before yielding to the page. */
const SLICE_MS = 12;

type Work = Generator<void, void, void>;

/** What the comparison view reads: the engine itself, or its worker (CompareWorkerClient). */
export interface CompareSource {
  readonly snapshot: CompareSnapshot | null;
  readonly minRanks: MinRanksSnapshot | null;
  setParams(params: Params, current: Plan | null): void;
  requestMinRanks(seq: number): void;
  dispose(): void;
}

export class CompareEngine implements CompareSource {
  readonly #probes = new Lru<Probe>(20000);
  readonly #rows = new Lru<{ row: ComparisonRow; categories: MemoryCategories | null }>(200);
  readonly #fits = new Lru<MaxSeqResult>(500);
  readonly #onChange: () => void;
  #current: Plan | null = null;
  #snapshot: CompareSnapshot | null = null;
  #minRanks: MinRanksSnapshot | null = null;
  #job: Work | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #generation = 0;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  get snapshot(): CompareSnapshot | null {
    return this.#snapshot;
  }

  get minRanks(): MinRanksSnapshot | null {
    return this.#minRanks;
  }

  /** Starts over for new params (the store's plan for them, when given, is reused, not priced again). */
  setParams(params: Params, current: Plan | null): void {
    const same = this.#snapshot && paramsKey(this.#snapshot.params) === paramsKey(params);
    this.#current = current;
    if (same) return;
    const minSeq = this.#minRanks?.seq;
    this.#snapshot = { params: { ...params }, rows: null, maxSeq: new Map(), sweep: new Map(), complete: false, done: false };
    this.#minRanks = null;
    this.#start(this.#work(params, minSeq ?? null));
  }

  /** Asks for the fewest ranks that fit `seq` tokens, for every strategy (replaces an earlier ask). */
  requestMinRanks(seq: number): void {
    const snap = this.#snapshot;
    if (!snap) return;
    this.#start(this.#work(snap.params, seq));
  }

  /** Stops any work in progress. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#job = null;
  }

  #start(job: Work): void {
    clearTimeout(this.#timer);
    this.#generation++;
    this.#job = job;
    const generation = this.#generation;
    const tick = (): void => {
      if (generation !== this.#generation || !this.#job) return;
      const until = performance.now() + SLICE_MS;
      let finished = false;
      while (performance.now() < until) {
        if (this.#job.next().done) {
          finished = true;
          break;
        }
      }
      if (finished) this.#job = null;
      else this.#timer = setTimeout(tick, 0);
    };
    this.#timer = setTimeout(tick, 0);
  }

  #plan(params: Params): Plan {
    const c = this.#current;
    if (c && paramsKey(c.params) === paramsKey(params)) return c;
    return planOf(params);
  }

  /** The probe of params from the cache; `fresh` says whether a plan had to be priced. */
  #probe(params: Params): { probe: Probe; fresh: boolean } {
    const key = paramsKey(params);
    const hit = this.#probes.get(key);
    if (hit) return { probe: hit, fresh: false };
    const probe = probeOf(this.#plan(params));
    this.#probes.set(key, probe);
    return { probe, fresh: true };
  }

  /** Drives a model search, yielding to the scheduler after every freshly priced plan. */
  *#drive<T>(search: Search<T>): Generator<void, T, void> {
    let step = search.next(undefined as unknown as Probe);
    while (!step.done) {
      const { probe, fresh } = this.#probe(step.value);
      if (fresh) yield;
      step = search.next(probe);
    }
    return step.value;
  }

  #publish(change: Partial<CompareSnapshot>): void {
    const snap = this.#snapshot;
    if (!snap) return;
    this.#snapshot = { ...snap, ...change };
    this.#onChange();
  }

  *#work(params: Params, minRanksSeq: number | null): Work {
    const order: StrategyId[] = [params.strategy, ...STRATEGY_IDS.filter((s) => s !== params.strategy)];
    // 1. The rows at these params (seq included).
    const base = new Map<StrategyId, { row: ComparisonRow; categories: MemoryCategories | null }>();
    for (const strategy of order) {
      const sp: Params = { ...params, strategy };
      const key = paramsKey(sp);
      let entry = this.#rows.get(key);
      if (!entry) {
        const p = this.#plan(sp);
        entry = { row: comparisonRow(p, null), categories: p.valid ? peakRankCategories(p) : null };
        this.#rows.set(key, entry);
        this.#probes.set(key, probeOf(p));
        yield;
      }
      base.set(strategy, entry);
    }
    const maxSeq = new Map(this.#snapshot?.maxSeq ?? []);
    const rowsNow = (): ComparisonRow[] => {
      const categories = new Map<StrategyId, MemoryCategories>();
      const rows = STRATEGY_IDS.map((s) => {
        const e = base.get(s) as { row: ComparisonRow; categories: MemoryCategories | null };
        if (e.categories) categories.set(s, e.categories);
        const fit = maxSeq.get(s);
        return e.row.valid ? { ...e.row, maxSeqThatFits: fit ? fit.maxSeq : null } : e.row;
      });
      return withDistinct(rows, categories);
    };
    this.#publish({ rows: rowsNow() });

    // 2. The longest sequence that fits, per strategy (independent of seq: cached without it).
    for (const strategy of order) {
      if (!base.get(strategy)?.row.valid) continue;
      const sp: Params = { ...params, strategy };
      const key = paramsKey({ ...sp, seq: 0 });
      let fit = this.#fits.get(key);
      if (!fit) {
        fit = yield* this.#drive(maxSeqSearch(sp));
        this.#fits.set(key, fit);
      }
      maxSeq.set(strategy, fit);
      this.#publish({ rows: rowsNow(), maxSeq: new Map(maxSeq) });
    }
    this.#publish({ complete: true });

    // 3. Fewest ranks for a target, when asked.
    if (minRanksSeq !== null) {
      const results = new Map<StrategyId, MinRanksResult>();
      this.#minRanks = { seq: minRanksSeq, results, done: false };
      this.#onChange();
      for (const strategy of order) {
        const r = yield* this.#drive(minRanksSearch({ ...params, strategy, seq: minRanksSeq }));
        results.set(strategy, r);
        this.#minRanks = { seq: minRanksSeq, results: new Map(results), done: false };
        this.#onChange();
      }
      this.#minRanks = { seq: minRanksSeq, results, done: true };
      this.#onChange();
    }

    // 4. Peak against sequence length, current strategy first.
    const seqs = sweepSeqs();
    const sweep = new Map(this.#snapshot?.sweep ?? []);
    for (const strategy of order) {
      const points: SweepPoint[] = [];
      for (const seq of seqs) {
        const { probe, fresh } = this.#probe({ ...params, strategy, seq });
        points.push({ seq, probe });
        if (fresh) yield;
      }
      sweep.set(strategy, points);
      this.#publish({ sweep: new Map(sweep) });
    }
    this.#publish({ done: true });
  }
}

/** Quiet time (ms) after a change before the comparison worker starts on it. */
const SETTLE_MS = 250;

/**
 * The CompareEngine in a worker (compare.worker.ts), seen from the page: the same interface, so
 * the view does not know where the numbers are computed. Until the worker answers for the current
 * params, the snapshot is the empty one for those params, never an older params' rows.
 */
export class CompareWorkerClient implements CompareSource {
  readonly #worker: Worker;
  #post: ReturnType<typeof setTimeout> | undefined;
  #snapshot: CompareSnapshot | null = null;
  #minRanks: MinRanksSnapshot | null = null;

  constructor(onChange: () => void) {
    this.#worker = new Worker(new URL('./compare.worker.ts', import.meta.url), { type: 'module', name: 'shardscope-compare' });
    this.#worker.onmessage = (event: MessageEvent<CompareReply>) => {
      const { snapshot, minRanks } = event.data;
      const current = this.#snapshot;
      if (!snapshot || !current || paramsKey(snapshot.params) !== paramsKey(current.params)) return; // for older params
      this.#snapshot = snapshot;
      this.#minRanks = minRanks;
      onChange();
    };
  }

  get snapshot(): CompareSnapshot | null {
    return this.#snapshot;
  }

  get minRanks(): MinRanksSnapshot | null {
    return this.#minRanks;
  }

  setParams(params: Params): void {
    if (this.#snapshot && paramsKey(this.#snapshot.params) === paramsKey(params)) return;
    this.#snapshot = { params: { ...params }, rows: null, maxSeq: new Map(), sweep: new Map(), complete: false, done: false };
    this.#minRanks = null;
    // Posted once the params have held still for SETTLE_MS: during a slider drag the worker would
    // otherwise restart its hundreds of plans on every change and take a core from the frames.
    clearTimeout(this.#post);
    const request: CompareRequest = { type: 'params', params: { ...params } };
    this.#post = setTimeout(() => this.#worker.postMessage(request), SETTLE_MS);
  }

  requestMinRanks(seq: number): void {
    this.#worker.postMessage({ type: 'min-ranks', seq } satisfies CompareRequest);
  }

  dispose(): void {
    clearTimeout(this.#post);
    this.#worker.terminate();
  }
}
