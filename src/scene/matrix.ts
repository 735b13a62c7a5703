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

/** Tokens of one segment per cell it spans: count[i − lo] and the offset of its first token from the cell's start. */
interface SegCells {
  readonly lo: number;
  readonly hi: number;
  readonly count: Float64Array;
  readonly off: Float64Array;
}

/**
 * One forward step's contribution, factorised per group (a rank and one of its query segments):
 * below the diagonal, cell (i, j) gains q[i]·K[j] (q: the group's query tokens in cell i, K: its
 * head-weighted key tokens in cell j summed over the group's tiles), since every key of a lower
 * cell precedes every query; the diagonal cells get exact causal pair counts D[i].
 */
interface StepDelta {
  readonly groups: Int32Array;
  /** Per group: K over cells [kLo, kHi] at kAt, D over the group's query cells at dAt (in `vals`). */
  readonly kLo: Int32Array;
  readonly kHi: Int32Array;
  readonly kAt: Int32Array;
  readonly dAt: Int32Array;
  readonly vals: Float64Array;
}

/**
 * The work matrix of a schedule on an n×n grid of cells. Only the cheap parts are built here (the
 * causal pairs per cell, the work per rank from the tiles' pair counts); the per-cell split of each
 * step's work is factorised per (rank, query segment) and computed on first read: the cumulative
 * rows for the steps shown, the owners when the matrix is first drawn. A striped schedule at 64
 * ranks has ~8K tiles that each span every cell: per-cell work per tile cost ~100 ms–1 s.
 */
export function buildWorkMatrix(schedule: ValidSchedule, n: number): WorkMatrix {
  const seq = schedule.seq;
  const P = schedule.ranks;
  const steps = schedule.steps.filter((s) => s.phase === 'forward' && s.compute.length > 0).map((s) => s.index);
  const F = Math.max(1, steps.length);
  const n2 = n * n;
  const bound = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) bound[i] = cellStart(i, n, seq);
  const total = new Float64Array(n2);
  for (let i = 0; i < n; i++) {
    const qa = bound[i] as number;
    const qb = bound[i + 1] as number;
    for (let j = 0; j < i; j++) total[i * n + j] = (qb - qa) * ((bound[j + 1] as number) - (bound[j] as number));
    total[i * n + i] = causalPairs({ start: qa, count: qb - qa, stride: 1 }, { start: qa, count: qb - qa, stride: 1 });
  }
  const allHeads = totalHeadsOf(schedule);
  const perRank = new Float64Array(P * F);
  for (let f = 0; f < steps.length; f++) {
    const step = schedule.steps[steps[f] as number];
    if (step) {
      for (const rc of step.compute) {
        const heads = Math.max(1, rc.heads.end - rc.heads.start);
        let w = 0;
        for (const tile of rc.tiles) if (tile.pairs > 0) w += tile.pairs * heads;
        perRank[f * P + rc.rank] = (perRank[f * P + rc.rank] ?? 0) + w;
      }
    }
    if (f > 0) for (let r = 0; r < P; r++) perRank[f * P + r] = (perRank[f * P + r] ?? 0) + (perRank[(f - 1) * P + r] ?? 0);
  }

  // Segments by identity (schedules share them across tiles and steps), then by value.
  const segByObj = new WeakMap<Segment, number>();
  const segByValue = new Map<string, number>();
  const segs: SegCells[] = [];
  /** Per segment: an id shared by segments with the same tokens per cell (striped ranks all have one). */
  const segPattern: number[] = [];
  const patternByValue = new Map<string, number>();
  const segOf = (seg: Segment): number => {
    const hit = segByObj.get(seg);
    if (hit !== undefined) return hit;
    const key = `${seg.start},${seg.count},${seg.stride}`;
    let id = segByValue.get(key);
    if (id === undefined) {
      const lo = cellOf(seg.start, n, seq);
      const hi = cellOf(segmentLast(seg), n, seq);
      const count = new Float64Array(hi - lo + 1);
      const off = new Float64Array(hi - lo + 1);
      for (let i = lo; i <= hi; i++) {
        const c = clipCount(seg, bound[i] as number, bound[i + 1] as number);
        count[i - lo] = c;
        if (c > 0) off[i - lo] = clipStart(seg, bound[i] as number) - (bound[i] as number);
      }
      id = segs.length;
      segs.push({ lo, hi, count, off });
      segByValue.set(key, id);
      const pkey = `${lo}:${count.join(',')}`;
      let pat = patternByValue.get(pkey);
      if (pat === undefined) patternByValue.set(pkey, (pat = patternByValue.size));
      segPattern.push(pat);
    }
    segByObj.set(seg, id);
    return id;
  };
  // Groups: (rank, query segment).
  const groupOf = new Map<number, number>();
  const groupRank: number[] = [];
  const groupSeg: number[] = [];
  const groupId = (rank: number, seg: number): number => {
    const key = seg * P + rank;
    let g = groupOf.get(key);
    if (g === undefined) {
      g = groupRank.length;
      groupOf.set(key, g);
      groupRank.push(rank);
      groupSeg.push(seg);
    }
    return g;
  };

  const deltas: (StepDelta | undefined)[] = new Array<StepDelta | undefined>(F);
  let scratchK = new Float64Array(0);
  let scratchD = new Float64Array(0);
  const deltaOf = (f: number): StepDelta => {
    const hit = deltas[f];
    if (hit) return hit;
    const step = schedule.steps[steps[f] as number];
    const active: number[] = [];
    const slot = new Map<number, number>();
    const kLoA: number[] = [];
    const kHiA: number[] = [];
    if (scratchK.length < n) {
      scratchK = new Float64Array(n * 64);
      scratchD = new Float64Array(n * 64);
    }
    for (const rc of step?.compute ?? []) {
      const headShare = Math.max(1, rc.heads.end - rc.heads.start) / allHeads;
      for (const tile of rc.tiles) {
        if (tile.pairs <= 0) continue;
        const qs = segOf(tile.q);
        const ks = segOf(tile.kv);
        const g = groupId(rc.rank, qs);
        let at = slot.get(g);
        if (at === undefined) {
          at = active.length;
          slot.set(g, at);
          active.push(g);
          kLoA.push(n);
          kHiA.push(-1);
          if (scratchK.length < (at + 1) * n) {
            const grownK = new Float64Array(scratchK.length * 2);
            grownK.set(scratchK);
            scratchK = grownK;
            const grownD = new Float64Array(scratchD.length * 2);
            grownD.set(scratchD);
            scratchD = grownD;
          }
          scratchK.fill(0, at * n, (at + 1) * n);
          scratchD.fill(0, at * n, (at + 1) * n);
        }
        const Q = segs[qs] as SegCells;
        const K = segs[ks] as SegCells;
        const base = at * n;
        for (let j = K.lo; j <= K.hi; j++) scratchK[base + j] = (scratchK[base + j] as number) + headShare * (K.count[j - K.lo] as number);
        if (K.lo < (kLoA[at] as number)) kLoA[at] = K.lo;
        if (K.hi > (kHiA[at] as number)) kHiA[at] = K.hi;
        // Diagonal cells: exact causal pairs; cells with the same counts and offsets (a strided
        // segment repeats the same pattern in every cell) reuse the previous count.
        const d0 = Math.max(Q.lo, K.lo);
        const d1 = Math.min(Q.hi, K.hi);
        let pqc = -1;
        let pkc = -1;
        let pqo = -1;
        let pko = -1;
        let pp = 0;
        for (let i = d0; i <= d1; i++) {
          const qc = Q.count[i - Q.lo] as number;
          const kc = K.count[i - K.lo] as number;
          if (qc <= 0 || kc <= 0) continue;
          const qo = Q.off[i - Q.lo] as number;
          const ko = K.off[i - K.lo] as number;
          if (qc !== pqc || kc !== pkc || qo !== pqo || ko !== pko) {
            const b = bound[i] as number;
            pp = safePairs({ start: b + qo, count: qc, stride: tile.q.stride }, { start: b + ko, count: kc, stride: tile.kv.stride });
            pqc = qc;
            pkc = kc;
            pqo = qo;
            pko = ko;
          }
          scratchD[base + i] = (scratchD[base + i] as number) + headShare * pp;
        }
      }
    }
    let size = 0;
    for (let a = 0; a < active.length; a++) {
      const Q = segs[groupSeg[active[a] as number] as number] as SegCells;
      size += Math.max(0, (kHiA[a] as number) - (kLoA[a] as number) + 1) + (Q.hi - Q.lo + 1);
    }
    const vals = new Float64Array(size);
    const kAt = new Int32Array(active.length);
    const dAt = new Int32Array(active.length);
    let w = 0;
    for (let a = 0; a < active.length; a++) {
      const Q = segs[groupSeg[active[a] as number] as number] as SegCells;
      const lo = kLoA[a] as number;
      const hi = kHiA[a] as number;
      kAt[a] = w;
      if (hi >= lo) vals.set(scratchK.subarray(a * n + lo, a * n + hi + 1), w);
      w += Math.max(0, hi - lo + 1);
      dAt[a] = w;
      vals.set(scratchD.subarray(a * n + Q.lo, a * n + Q.hi + 1), w);
      w += Q.hi - Q.lo + 1;
    }
    const out: StepDelta = { groups: Int32Array.from(active), kLo: Int32Array.from(kLoA), kHi: Int32Array.from(kHiA), kAt, dAt, vals };
    deltas[f] = out;
    return out;
  };

  /** Adds steps (from, to]'s work to a row (per cell) or to per-rank contributions (cell·P + rank). */
  const accumulate = (from: number, to: number, row: Float32Array | Float64Array, perRankCells: boolean): void => {
    // Sum each group's K and D over the steps first, then one outer product per group.
    const sumK = new Map<number, Float64Array>();
    const sumD = new Map<number, Float64Array>();
    const firstSeg = new Map<number, number>();
    for (let s = from + 1; s <= to; s++) {
      const d = deltaOf(s);
      for (let a = 0; a < d.groups.length; a++) {
        const g0 = d.groups[a] as number;
        // Per rank: one sum per group; per cell: groups whose query tokens per cell agree share one.
        const g = perRankCells ? g0 : -1 - (segPattern[groupSeg[g0] as number] as number);
        const Q = segs[groupSeg[g0] as number] as SegCells;
        if (!perRankCells) firstSeg.set(g, groupSeg[g0] as number);
        let K = sumK.get(g);
        let D = sumD.get(g);
        if (!K || !D) {
          K = new Float64Array(n);
          D = new Float64Array(Q.hi - Q.lo + 1);
          sumK.set(g, K);
          sumD.set(g, D);
        }
        const lo = d.kLo[a] as number;
        const hi = d.kHi[a] as number;
        const kAt = d.kAt[a] as number;
        for (let j = lo; j <= hi; j++) K[j] = (K[j] as number) + (d.vals[kAt + j - lo] as number);
        const dAt = d.dAt[a] as number;
        for (let i = 0; i < D.length; i++) D[i] = (D[i] as number) + (d.vals[dAt + i] as number);
      }
    }
    for (const [g, K] of sumK) {
      const Q = segs[(perRankCells ? groupSeg[g] : firstSeg.get(g)) as number] as SegCells;
      const D = sumD.get(g) as Float64Array;
      const stride = perRankCells ? P : 1;
      const add = perRankCells ? (groupRank[g] as number) : 0;
      let kLo = 0;
      while (kLo < n && K[kLo] === 0) kLo++;
      for (let i = Q.lo; i <= Q.hi; i++) {
        const q = Q.count[i - Q.lo] as number;
        const rowAt = i * n;
        if (q > 0) {
          for (let j = kLo; j < i; j++) {
            const k = K[j] as number;
            if (k === 0) continue;
            const at = (rowAt + j) * stride + add;
            row[at] = (row[at] as number) + q * k;
          }
        }
        const dv = D[i - Q.lo] as number;
        if (dv !== 0) {
          const at = (rowAt + i) * stride + add;
          row[at] = (row[at] as number) + dv;
        }
      }
    }
  };

  let owners: { owner: Int16Array; sharers: Int16Array } | null = null;
  const ownersOf = (): { owner: Int16Array; sharers: Int16Array } => {
    if (owners) return owners;
    const contrib = new Float64Array(n2 * P);
    accumulate(-1, steps.length - 1, contrib, true);
    const owner = new Int16Array(n2).fill(-1);
    const sharers = new Int16Array(n2 * 4).fill(-1);
    for (let c = 0; c < n2; c++) {
      let sum = 0;
      let best = -1;
      let bestW = 0;
      const base = c * P;
      for (let r = 0; r < P; r++) {
        const w = contrib[base + r] as number;
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
        for (let r = 0; r < P && k < 4; r++) if ((contrib[base + r] as number) > 0) sharers[c * 4 + k++] = r;
      }
    }
    owners = { owner, sharers };
    return owners;
  };
  let first: Int16Array | null = null;
  /** First forward step that computed part of each cell (a step-by-step walk; read by tests only). */
  const firstOf = (): Int16Array => {
    if (first) return first;
    first = new Int16Array(n2).fill(-1);
    const one = new Float64Array(n2);
    for (let f = 0; f < steps.length; f++) {
      one.fill(0);
      accumulate(f - 1, f, one, false);
      for (let c = 0; c < n2; c++) if ((one[c] as number) > 0 && first[c] === -1) first[c] = f;
    }
    return first;
  };

  const cumAt = cumulativeRows(n2, steps.length, (from, to, row) => accumulate(from, to, row, false));
  return {
    n,
    ranks: P,
    steps,
    total,
    cumAt,
    get owner() {
      return ownersOf().owner;
    },
    get first() {
      return firstOf();
    },
    perRank,
    get sharers() {
      return ownersOf().sharers;
    },
  };
}

/**
 * cumAt for buildWorkMatrix: row f = the work of steps 0..f per cell, in float32. Two cached rows;
 * a miss advances the nearest cached row below f (or zeros) through the steps in between.
 */
function cumulativeRows(n2: number, F: number, addSteps: (from: number, to: number, row: Float32Array) => void): (f: number) => Float32Array {
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
    addSteps(base ? base.f : -1, f, lru.row);
    lru.f = f;
    lru.used = ++clock;
    return lru.row;
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
