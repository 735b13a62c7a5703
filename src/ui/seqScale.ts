// The sequence-length slider's log scale: 1K … 10M tokens in nice stops (1, 1.5 × powers of
// two: 1K, 1.5K, 2K, 3K, 4K, 6K, 8K, 12K, …, 8M, then 10M), with labels like "128K". Pure.

const K = 1024;
const M = K * K;

export const SEQ_MIN = K;
export const SEQ_MAX = 10 * M;

function buildStops(): number[] {
  const stops: number[] = [];
  for (let p = SEQ_MIN; p <= SEQ_MAX; p *= 2) {
    stops.push(p);
    if (p * 1.5 <= SEQ_MAX) stops.push(p * 1.5);
  }
  if (stops[stops.length - 1] !== SEQ_MAX) stops.push(SEQ_MAX);
  return stops;
}

export const SEQ_STOPS: readonly number[] = Object.freeze(buildStops());

function trim(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

/** Short label for a token count: 131072 → "128K", 1536 → "1.5K", 10485760 → "10M", 1000 → "1000". */
export function seqLabel(n: number): string {
  if (n >= M && (n * 100) % M === 0) return `${trim(n / M)}M`;
  if (n >= K && (n * 100) % K === 0) return `${trim(n / K)}K`;
  return String(n);
}

/** Index of the stop nearest to n on a log scale (for positioning the slider at any value). */
export function nearestStopIndex(n: number): number {
  let best = 0;
  let bestDistance = Infinity;
  const target = Math.log2(Math.max(1, n));
  SEQ_STOPS.forEach((stop, i) => {
    const d = Math.abs(Math.log2(stop) - target);
    if (d < bestDistance) {
      bestDistance = d;
      best = i;
    }
  });
  return best;
}

export function stopValue(index: number): number {
  const i = Math.max(0, Math.min(SEQ_STOPS.length - 1, Math.round(index)));
  return SEQ_STOPS[i] as number;
}

/** Powers of two from 1 to max, for the rank shortcuts. */
export function powersOfTwo(max: number): number[] {
  const out: number[] = [];
  for (let p = 1; p <= max; p *= 2) out.push(p);
  return out;
}
