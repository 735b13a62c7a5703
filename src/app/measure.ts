// Named spans of main-thread work, as User Timing measures, recorded only when a bench or a
// profiling session turns them on (__shardscopeTest.measureSpans(true)): a measure costs ~0.5 ms
// in Chromium, which a page should not pay four times a change for nobody. A trace then shows
// them, and `npm run bench -- interaction` sums the CPU inside them (scripts/bench/mainThreadCpu.ts).
// The browser keeps every measure until cleared, so each name is cleared every KEEP measures.

const KEEP = 500;
const counts = new Map<string, number>();
let enabled = false;

export function measureSpans(on: boolean): void {
  enabled = on;
}

/** Records `name` from `start` (performance.now()) to now, when spans are on. */
export function measureSince(name: string, start: number): void {
  if (!enabled || typeof performance.measure !== 'function') return;
  const n = (counts.get(name) ?? 0) + 1;
  if (n > KEEP) performance.clearMeasures(name);
  counts.set(name, n > KEEP ? 1 : n);
  performance.measure(name, { start, end: performance.now() });
}
