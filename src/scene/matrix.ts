// The causal work matrix at block granularity: which rank computed which (query block, key block)
// cell, in which forward step. Pure; reads the Schedule's compute tiles only (pair counts come
// from schedule.ts' closed-form causalPairs, so nothing loops over tokens).

import { causalPairs, segmentLast, type Segment, type ValidSchedule } from '../model/schedule.ts';

export interface WorkMatrix {
  /** Cells per axis. */
  readonly n: number;
  readonly ranks: number;
  /** Schedule step index of each forward compute step. */
  readonly steps: readonly number[];
  /** Causal (k ≤ q) pairs in each cell, row-major [q cell][k cell]. 0 = masked (upper triangle). */
  readonly total: Float64Array;
  /** Pairs computed up to and including forward step f: cum[f·n² + cell] (all heads weighted equally). */
  readonly cum: Float32Array;
  /** Rank that computed most of a cell, −1 if nothing, −2 if shared (no rank above 60%). */
  readonly owner: Int16Array;
  /** First forward step (index into `steps`) that computed part of the cell, −1 if none. */
  readonly first: Int16Array;
  /** Work per rank up to forward step f (pairs × heads): perRank[f·ranks + r]. */
  readonly perRank: Float64Array;
  /** Ranks contributing to a shared cell: up to 4 per cell, −1 padded: sharers[cell·4 + k]. */
  readonly sharers: Int16Array;
}

export function cellStart(i: number, n: number, seq: number): number {
  return Math.floor((i * seq) / n);
}

/** Restricts a strided segment to global positions [a, b). */
export function clipSegment(seg: Segment, a: number, b: number): Segment | null {
  if (seg.count <= 0) return null;
  const s = Math.max(1, seg.stride);
  const k0 = Math.max(0, Math.ceil((a - seg.start) / s));
  const k1 = Math.min(seg.count - 1, Math.floor((b - 1 - seg.start) / s));
  if (k1 < k0) return null;
  return { start: seg.start + k0 * s, count: k1 - k0 + 1, stride: seg.stride };
}

function cellOf(t: number, n: number, seq: number): number {
  // Largest i with cellStart(i) <= t.
  let i = Math.min(n - 1, Math.floor((t * n) / seq));
  while (i > 0 && cellStart(i, n, seq) > t) i--;
  while (i < n - 1 && cellStart(i + 1, n, seq) <= t) i++;
  return i;
}

function safePairs(q: Segment, k: Segment): number {
  try {
    return causalPairs(q, k);
  } catch {
    // Mixed strides: fall back to the expected half of the tile (only for display).
    return (q.count * k.count) / 2;
  }
}

export function buildWorkMatrix(schedule: ValidSchedule, n: number): WorkMatrix {
  const seq = schedule.seq;
  const P = schedule.ranks;
  const steps = schedule.steps.filter((s) => s.phase === 'forward' && s.compute.length > 0).map((s) => s.index);
  const F = Math.max(1, steps.length);
  const n2 = n * n;
  const total = new Float64Array(n2);
  for (let i = 0; i < n; i++) {
    const qa = cellStart(i, n, seq);
    const qb = cellStart(i + 1, n, seq);
    for (let j = 0; j <= i; j++) {
      const ka = cellStart(j, n, seq);
      const kb = cellStart(j + 1, n, seq);
      total[i * n + j] = causalPairs({ start: qa, count: qb - qa, stride: 1 }, { start: ka, count: kb - ka, stride: 1 });
    }
  }
  const cum = new Float32Array(n2 * F);
  const contrib = new Float64Array(n2 * P);
  const first = new Int16Array(n2).fill(-1);
  const perRank = new Float64Array(P * F);
  const stepCells = new Float64Array(n2);
  const allHeads = totalHeadsOf(schedule);
  steps.forEach((stepIndex, f) => {
    const step = schedule.steps[stepIndex];
    if (!step) return;
    stepCells.fill(0);
    for (const rc of step.compute) {
      const heads = Math.max(1, rc.heads.end - rc.heads.start);
      let rankWork = 0;
      for (const tile of rc.tiles) {
        if (tile.pairs <= 0) continue;
        rankWork += tile.pairs * heads;
        const i0 = cellOf(tile.q.start, n, seq);
        const i1 = cellOf(segmentLast(tile.q), n, seq);
        const j0 = cellOf(tile.kv.start, n, seq);
        const j1 = cellOf(segmentLast(tile.kv), n, seq);
        for (let i = i0; i <= i1; i++) {
          const qc = clipSegment(tile.q, cellStart(i, n, seq), cellStart(i + 1, n, seq));
          if (!qc) continue;
          for (let j = j0; j <= Math.min(i, j1); j++) {
            const kc = clipSegment(tile.kv, cellStart(j, n, seq), cellStart(j + 1, n, seq));
            if (!kc) continue;
            const p = safePairs(qc, kc);
            if (p <= 0) continue;
            const cell = i * n + j;
            // Weighted by the share of heads, so a head-sharded rank (Ulysses) counts 1/P of a cell.
            const w = p * (heads / allHeads);
            stepCells[cell] = (stepCells[cell] ?? 0) + w;
            contrib[cell * P + rc.rank] = (contrib[cell * P + rc.rank] ?? 0) + w;
            if (first[cell] === -1) first[cell] = f;
          }
        }
      }
      perRank[f * P + rc.rank] = (perRank[f * P + rc.rank] ?? 0) + rankWork;
    }
    for (let c = 0; c < n2; c++) cum[f * n2 + c] = (f > 0 ? (cum[(f - 1) * n2 + c] ?? 0) : 0) + (stepCells[c] ?? 0);
    if (f > 0) for (let r = 0; r < P; r++) perRank[f * P + r] = (perRank[f * P + r] ?? 0) + (perRank[(f - 1) * P + r] ?? 0);
  });
  const owner = new Int16Array(n2).fill(-1);
  const sharers = new Int16Array(n2 * 4).fill(-1);
  for (let c = 0; c < n2; c++) {
    let sum = 0;
    let best = -1;
    let bestW = 0;
    for (let r = 0; r < P; r++) {
      const w = contrib[c * P + r] ?? 0;
      sum += w;
      if (w > bestW) {
        bestW = w;
        best = r;
      }
    }
    if (sum <= 0) continue;
    owner[c] = bestW >= 0.6 * sum ? best : -2;
    if (owner[c] === -2) {
      let k = 0;
      for (let r = 0; r < P && k < 4; r++) if ((contrib[c * P + r] ?? 0) > 0) sharers[c * 4 + k++] = r;
    }
  }
  return { n, ranks: P, steps, total, cum, owner, first, perRank, sharers };
}

/** Head count of the schedule's largest compute head range (all query heads). */
function totalHeadsOf(schedule: ValidSchedule): number {
  let max = 1;
  for (const step of schedule.steps) for (const rc of step.compute) max = Math.max(max, rc.heads.end);
  return max;
}

/** Index into `steps` of the last forward step at or before schedule step `stepIndex` (−1 before any). */
export function forwardProgress(matrix: WorkMatrix, stepIndex: number): number {
  let f = -1;
  for (let i = 0; i < matrix.steps.length; i++) if ((matrix.steps[i] ?? Infinity) <= stepIndex) f = i;
  return f;
}
