// Named spans of main-thread work, as User Timing measures: a profiler or a trace shows them, and
// `npm run bench -- interaction` sums the CPU inside them (scripts/bench/mainThreadCpu.ts). The
// browser keeps every measure until cleared, so each name is cleared every KEEP measures: a page
// left open through thousands of changes holds a bounded buffer.

const KEEP = 500;
const counts = new Map<string, number>();

/** Records `name` from `start` (performance.now()) to now. */
export function measureSince(name: string, start: number): void {
  if (typeof performance.measure !== 'function') return;
  const n = (counts.get(name) ?? 0) + 1;
  if (n > KEEP) performance.clearMeasures(name);
  counts.set(name, n > KEEP ? 1 : n);
  performance.measure(name, { start, end: performance.now() });
}
