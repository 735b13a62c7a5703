// A parser-speed check stated as a ratio, so it holds on a slow or busy machine: the time to
// parse a long value is compared with the time to parse a short one, measured in the same run.
// Each side is the median of several batches, which absorbs a scheduler hiccup on a shared host.

export interface RatioMeasurement {
  shortMs: number;
  longMs: number;
  /** longMs / shortMs. */
  ratio: number;
}

function batchMs(fn: () => void, repeats: number): number {
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) fn();
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function perCallMs(fn: () => void, batches: number, minBatchMs: number): number {
  fn(); // warm up the JIT
  let repeats = 1;
  while (batchMs(fn, repeats) < minBatchMs && repeats < 1 << 20) repeats *= 2;
  const times: number[] = [];
  for (let b = 0; b < batches; b++) times.push(batchMs(fn, repeats) / repeats);
  return median(times);
}

/**
 * Times `parse(long)` against `parse(short)`. Each side repeats the call until a batch takes at least
 * `minBatchMs`, so the ratio is not a quotient of timer noise, and takes the median over batches.
 */
export function timeRatio(parse: (text: string) => unknown, short: string, long: string, batches = 5, minBatchMs = 5): RatioMeasurement {
  const shortMs = perCallMs(() => parse(short), batches, minBatchMs);
  const longMs = perCallMs(() => parse(long), batches, minBatchMs);
  return { shortMs, longMs, ratio: longMs / Math.max(shortMs, 1e-9) };
}
