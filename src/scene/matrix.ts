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
  /**
   * Pairs computed up to and including forward step f, one float32 per cell (all heads weighted
   * equally). Summed on demand from the per-step deltas (a dense steps × n² table cost more to build
   * than every redraw together); the two latest rows stay cached, so f − 1 then f are cheap. Read only.
   */
  cumAt(f: number): Float32Array;
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

/** Tokens of a strided segment inside [a, b) (clipSegment's count, without the object). */
function clipCount(seg: Segment, a: number, b: number): number {
  if (seg.count <= 0) return 0;
  const s = Math.max(1, seg.stride);
  const k0 = Math.max(0, Math.ceil((a - seg.start) / s));
  const k1 = Math.min(seg.count - 1, Math.floor((b - 1 - seg.start) / s));
  return k1 < k0 ? 0 : k1 - k0 + 1;
}

/** First token of a strided segment at or after a (clipSegment's start; only when clipCount > 0). */
function clipStart(seg: Segment, a: number): number {
  const s = Math.max(1, seg.stride);
  return seg.start + Math.max(0, Math.ceil((a - seg.start) / s)) * s;
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
  // Per forward step, the cells it computed and their pairs: deltaCell/deltaW[deltaStart[f] ..).
  const deltaStart = new Int32Array(F + 1);
  const deltaCells: number[] = [];
  const deltaWs: number[] = [];
  const touched = new Int32Array(n2).fill(-1);
  const contrib = new Float64Array(n2 * P);
  const first = new Int16Array(n2).fill(-1);
  const perRank = new Float64Array(P * F);
  const stepCells = new Float64Array(n2);
  const allHeads = totalHeadsOf(schedule);
  // Cell bounds once (cellStart is a division per call), and the tile's K/V clipped to each key
  // cell once per tile rather than once per (q cell, k cell): plain numbers, no Segment objects in
  // the inner loop (a 64-rank schedule has ~16K tiles; a striped one spans every cell).
  const bound = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) bound[i] = cellStart(i, n, seq);
  const kcStart = new Float64Array(n);
  const kcCount = new Float64Array(n);
  for (let f = 0; f < steps.length; f++) {
    deltaStart[f + 1] = deltaStart[f] as number;
    const step = schedule.steps[steps[f] as number];
    if (!step) continue;
    for (const rc of step.compute) {
      const heads = Math.max(1, rc.heads.end - rc.heads.start);
      // Weighted by the share of heads, so a head-sharded rank (Ulysses) counts 1/P of a cell.
      const headShare = heads / allHeads;
      const contribBase = rc.rank;
      let rankWork = 0;
      for (const tile of rc.tiles) {
        if (tile.pairs <= 0) continue;
        rankWork += tile.pairs * heads;
        const q = tile.q;
        const kv = tile.kv;
        const i0 = cellOf(q.start, n, seq);
        const i1 = cellOf(segmentLast(q), n, seq);
        const j0 = cellOf(kv.start, n, seq);
        const j1 = cellOf(segmentLast(kv), n, seq);
        if (i0 === i1 && j0 === j1) {
          // The tile lies inside one cell (the common case once cells are larger than blocks): no clipping.
          if (j0 > i0) continue;
          const p = j0 < i0 && q.stride >= 1 && kv.stride >= 1 && (q.count === 1 || kv.count === 1 || q.stride === kv.stride) ? q.count * kv.count : safePairs(q, kv);
          if (p <= 0) continue;
          const cell = i0 * n + j0;
          const w = p * headShare;
          if (touched[cell] !== f) {
            touched[cell] = f;
            deltaCells.push(cell);
          }
          stepCells[cell] = (stepCells[cell] as number) + w;
          const at = cell * P + contribBase;
          contrib[at] = (contrib[at] as number) + w;
          if (first[cell] === -1) first[cell] = f;
          continue;
        }
        const jEnd = Math.min(i1, j1);
        for (let j = j0; j <= jEnd; j++) {
          const c = clipCount(kv, bound[j] as number, bound[j + 1] as number);
          kcCount[j] = c;
          if (c > 0) kcStart[j] = clipStart(kv, bound[j] as number);
        }
        for (let i = i0; i <= i1; i++) {
          const qCount = clipCount(q, bound[i] as number, bound[i + 1] as number);
          if (qCount <= 0) continue;
          const qStart = clipStart(q, bound[i] as number);
          const jMax = Math.min(i, j1);
          for (let j = j0; j <= jMax; j++) {
            const kCount = kcCount[j] as number;
            if (kCount <= 0) continue;
            // Below the diagonal every key precedes every query: all pairs, exactly what causalPairs
            // returns whenever it does not throw (equal strides or a single token on one side).
            const exact = q.stride >= 1 && kv.stride >= 1 && (qCount === 1 || kCount === 1 || q.stride === kv.stride);
            const p =
              j < i && exact
                ? qCount * kCount
                : safePairs({ start: qStart, count: qCount, stride: q.stride }, { start: kcStart[j] as number, count: kCount, stride: kv.stride });
            if (p <= 0) continue;
            const cell = i * n + j;
            const w = p * headShare;
            if (touched[cell] !== f) {
              touched[cell] = f;
              deltaCells.push(cell);
            }
            stepCells[cell] = (stepCells[cell] as number) + w;
            const at = cell * P + contribBase;
            contrib[at] = (contrib[at] as number) + w;
            if (first[cell] === -1) first[cell] = f;
          }
        }
      }
      perRank[f * P + rc.rank] = (perRank[f * P + rc.rank] ?? 0) + rankWork;
    }
    for (let k = deltaStart[f] as number; k < deltaCells.length; k++) {
      const cell = deltaCells[k] as number;
      deltaWs.push(stepCells[cell] as number);
      stepCells[cell] = 0;
    }
    deltaStart[f + 1] = deltaCells.length;
    if (f > 0) for (let r = 0; r < P; r++) perRank[f * P + r] = (perRank[f * P + r] ?? 0) + (perRank[(f - 1) * P + r] ?? 0);
  }
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
  const cumAt = cumulativeRows(n2, deltaStart, Int32Array.from(deltaCells), Float64Array.from(deltaWs));
  return { n, ranks: P, steps, total, cumAt, owner, first, perRank, sharers };
}

/**
 * cumAt for buildWorkMatrix: row f = row f−1 + step f's deltas, rounded to float32 per step (as a
 * dense Float32Array table would hold it). Two cached rows; a miss advances the nearest cached row
 * below f (or zeros) through the steps in between.
 */
function cumulativeRows(n2: number, deltaStart: Int32Array, deltaCell: Int32Array, deltaW: Float64Array): (f: number) => Float32Array {
  const F = deltaStart.length - 1;
  interface Slot {
    f: number;
    row: Float32Array;
    used: number;
  }
  const slots: Slot[] = [
    { f: -1, row: new Float32Array(0), used: 0 },
    { f: -1, row: new Float32Array(0), used: 0 },
  ];
  let clock = 0;
  return (fIn: number): Float32Array => {
    const f = Math.min(F - 1, Math.max(-1, Math.floor(fIn)));
    const hit = slots.find((s) => s.row.length > 0 && s.f === f);
    if (hit) {
      hit.used = ++clock;
      return hit.row;
    }
    const [a, b] = slots as [Slot, Slot];
    const lru = a.used <= b.used ? a : b;
    let base: Slot | null = null;
    for (const s of slots) if (s.row.length > 0 && s.f < f && (!base || s.f > base.f)) base = s;
    if (lru.row.length === 0) lru.row = new Float32Array(n2);
    if (base !== lru) {
      if (base) lru.row.set(base.row);
      else lru.row.fill(0);
    }
    const row = lru.row;
    for (let s = (base ? base.f : -1) + 1; s <= f; s++) {
      const end = deltaStart[s + 1] as number;
      for (let k = deltaStart[s] as number; k < end; k++) {
        const c = deltaCell[k] as number;
        row[c] = (row[c] as number) + (deltaW[k] as number);
      }
    }
    lru.f = f;
    lru.used = ++clock;
    return row;
  };
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
