// Human formatting shared by the UI readouts and the CLI, so both print the same strings for
// the same numbers. Bytes, FLOPs and bandwidth use decimal SI prefixes (1 GB = 1e9 B), as GPU
// datasheets do (an "80 GB" H100 holds 80e9 bytes); token counts use binary K/M (128K = 131072),
// as sequence lengths are conventionally quoted.

/** Three significant digits without exponent notation: 1.23, 12.3, 123, 1234. */
function sig3(x: number): string {
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

function scaled(value: number, unit: string, prefixes: readonly (readonly [number, string])[]): string {
  if (!Number.isFinite(value)) return `${value} ${unit}`;
  const a = Math.abs(value);
  for (const [scale, prefix] of prefixes) {
    // Choose the prefix at which the value rounds to at least 1 (avoids "1000 MB" by
    // promoting values that round up to the next prefix's 1.00).
    if (a >= scale * 0.9995) return `${sig3(value / scale)} ${prefix}${unit}`;
  }
  return `${sig3(value)} ${unit}`;
}

const SI: readonly (readonly [number, string])[] = [
  [1e18, 'E'],
  [1e15, 'P'],
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'K'],
];

/** SI with a lower-case kilo, for bytes ("kB"). */
const SI_BYTES: readonly (readonly [number, string])[] = SI.map(([s, p]) => [s, p === 'K' ? 'k' : p] as const);

/** 12.3e9 → "12.3 GB", 512e6 → "512 MB", 0 → "0 B". */
export function formatBytes(bytes: number): string {
  if (bytes === 0) return '0 B';
  if (Math.abs(bytes) < 1000) return `${Math.round(bytes)} B`;
  return scaled(bytes, 'B', SI_BYTES);
}

/** Bytes as a fixed-point GB number without unit, for aligned tables: 12.345e9 → "12.35". */
export function formatGB(bytes: number, decimals = 2): string {
  return (bytes / 1e9).toFixed(decimals);
}

/** Bytes as a fixed-point MB number without unit: 3.4567e6 → "3.46". */
export function formatMB(bytes: number, decimals = 2): string {
  return (bytes / 1e6).toFixed(decimals);
}

/** 3.2e-3 → "3.20 ms", 45e-6 → "45.0 µs", 2.5 → "2.50 s". */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return `${seconds} s`;
  const a = Math.abs(seconds);
  if (a === 0) return '0 s';
  if (a >= 0.9995) return `${sig3(seconds)} s`;
  if (a >= 0.9995e-3) return `${sig3(seconds * 1e3)} ms`;
  if (a >= 0.9995e-6) return `${sig3(seconds * 1e6)} µs`;
  return `${sig3(seconds * 1e9)} ns`;
}

/** 1.2e12 → "1.20 TFLOP". */
export function formatFlops(flops: number): string {
  if (flops === 0) return '0 FLOP';
  if (Math.abs(flops) < 1000) return `${Math.round(flops)} FLOP`;
  return scaled(flops, 'FLOP', SI);
}

/** FLOP/s: 989e12 → "989 TFLOP/s". */
export function formatFlopRate(flopsPerSecond: number): string {
  return `${formatFlops(flopsPerSecond)}/s`;
}

/** Bandwidth: 450e9 → "450 GB/s". */
export function formatBandwidth(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/**
 * Token counts in binary units: 131072 → "128K", 1048576 → "1M", 1000 → "1000",
 * 200000 → "195.3K" (inexact values keep one decimal so they are not mistaken for exact ones).
 */
export function formatTokens(n: number): string {
  const K = 1024;
  const M = K * K;
  if (n >= M && n % M === 0) return `${n / M}M`;
  if (n >= K && n % K === 0) return `${n / K}K`;
  if (n >= M) return `${(n / M).toFixed(1)}M`;
  if (n >= 10 * K) return `${(n / K).toFixed(1)}K`;
  return String(n);
}

/** 1.0234 → "1.02×". */
export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

/** 0.123 → "12.3%". */
export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/**
 * Bytes with two decimals in the unit that keeps the number between 1 and 1000, for readouts that
 * list values side by side: 469.76 MB, 40.69 GB (never "40689.16 MB"), 1.20 TB; 0 → "0 B".
 */
export function formatBytes2(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} B`;
  const a = Math.abs(bytes);
  if (a < 999.995) return a === 0 ? '0 B' : `${Math.round(bytes)} B`;
  for (const [scale, prefix] of [[1e15, 'PB'], [1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']] as const) {
    // Promote values that would print as "1000.00" to the next unit.
    if (a >= scale * 0.999995) return `${(bytes / scale).toFixed(2)} ${prefix}`;
  }
  return `${Math.round(bytes)} B`;
}

/** "1 GPU", "8 GPUs": a count with its noun, singular for exactly one. */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** "a – b", or one value when both ends print the same (never "56.9 GB – 56.9 GB"). */
export function formatSpan(lo: number, hi: number, format: (x: number) => string): string {
  const a = format(lo);
  const b = format(hi);
  return a === b ? a : `${a} – ${b}`;
}
