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
  /**
   * Runs of cells with the same count and offset: run r is cells runAt[r] .. runAt[r+1] − 1. A
   * strided segment is one run over every cell, a contiguous one at most three, so the per-cell
   * work of a tile (its diagonal pairs, its keys) is done once per run.
   */
  readonly runAt: Int32Array;
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
  // Tiles with pairs (the rows of the tile table), counted here to walk the tiles once less
  // (a local: a counter the closures below captured was a context slot, slow in this loop).
  let computed = 0;
  for (let f = 0; f < steps.length; f++) {
    const step = schedule.steps[steps[f] as number];
    if (step) {
      for (const rc of step.compute) {
        const heads = Math.max(1, rc.heads.end - rc.heads.start);
        let w = 0;
        for (const tile of rc.tiles) {
          if (tile.pairs > 0) {
            w += tile.pairs * heads;
            computed++;
          }
        }
        perRank[f * P + rc.rank] = (perRank[f * P + rc.rank] ?? 0) + w;
      }
    }
    if (f > 0) for (let r = 0; r < P; r++) perRank[f * P + r] = (perRank[f * P + r] ?? 0) + (perRank[(f - 1) * P + r] ?? 0);
  }
  const computedTiles = computed;

  // Cell of a token: a division when the cells are equal (seq a multiple of n, the usual case).
  const cellWidth = seq / n;
  const cellAt = seq % n === 0 ? (t: number): number => Math.floor(t / cellWidth) : (t: number): number => cellOf(t, n, seq);
  // Segments spanning several cells, by identity (schedules share them across tiles and steps),
  // then by value; with an id shared by segments of the same tokens per cell (the pattern: every
  // striped rank has one), under which the per-cell sums merge their groups.
  const segByObj = new WeakMap<Segment, number>();
  const segByValue = new Map<string, number>();
  const segs: SegCells[] = [];
  const segPattern: number[] = [];
  const patternByValue = new Map<string, number>();
  const segOf = (seg: Segment): number => {
    const hit = segByObj.get(seg);
    if (hit !== undefined) return hit;
    const key = `${seg.start},${seg.count},${seg.stride}`;
    let id = segByValue.get(key);
    if (id === undefined) {
      const lo = cellAt(seg.start);
      const hi = cellAt(segmentLast(seg));
      const count = new Float64Array(hi - lo + 1);
      const off = new Float64Array(hi - lo + 1);
      for (let i = lo; i <= hi; i++) {
        const c = clipCount(seg, bound[i] as number, bound[i + 1] as number);
        count[i - lo] = c;
        if (c > 0) off[i - lo] = clipStart(seg, bound[i] as number) - (bound[i] as number);
      }
      let runs = 1;
      for (let i = 1; i < count.length; i++) if (count[i] !== count[i - 1] || off[i] !== off[i - 1]) runs++;
      const runAt = new Int32Array(runs + 1);
      for (let i = 1, r = 1; i < count.length; i++) if (count[i] !== count[i - 1] || off[i] !== off[i - 1]) runAt[r++] = lo + i;
      runAt[0] = lo;
      runAt[runs] = hi + 1;
      id = segs.length;
      segs.push({ lo, hi, count, off, runAt });
      segByValue.set(key, id);
      // The pattern: lo and the counts, run-length coded (a strided segment's key is one run).
      let pkey = `${lo}:`;
      for (let i = 0, j = 0; i < count.length; i = j) {
        while (j < count.length && count[j] === count[i]) j++;
        pkey += `${count[i] as number}*${j - i},`;
      }
      let pat = patternByValue.get(pkey);
      if (pat === undefined) patternByValue.set(pkey, (pat = patternByValue.size));
      segPattern.push(pat);
    }
    segByObj.set(seg, id);
    return id;
  };

  /**
   * Every computed forward tile once, flat (skipped ones add nothing): its group (a rank and one of
   * its query segments), its head share, its keys per cell (kRef: one cell, with kCount keys, or
   * ~segment) and its exact diagonal pairs (runs dLo..dHi of dVal, head-weighted). Below the diagonal, cell (i, j) of a group gains
   * q[i]·ΣK[j], since every key of a lower cell precedes every query: so sums over steps are
   * per-group vectors, and the n×n outer products happen once per group, not once per tile.
   */
  interface Tiles {
    readonly stepStart: Int32Array;
    readonly group: Int32Array;
    readonly share: Float64Array;
    /** Key cell (≥ 0), or ~id of the key segment when the keys span several cells. */
    readonly kRef: Int32Array;
    readonly kCount: Float64Array;
    /** Diagonal runs of tile t: dStart[t] .. dStart[t+1], each cells dLo..dHi with dVal pairs per cell. */
    readonly dStart: Int32Array;
    readonly dLo: Int32Array;
    readonly dHi: Int32Array;
    readonly dVal: Float64Array;
    /** Per group: its rank, its query segment, and the pattern its per-cell sum merges under. */
    readonly groupRank: Int32Array;
    readonly groupSeg: Int32Array;
    readonly groupPattern: Int32Array;
    /** Whether any tile's keys or diagonal span several cells (else every sum is cell by cell). */
    readonly spans: boolean;
  }
  let tilesCache: Tiles | null = null;
  const tiles = (): Tiles => {
    if (tilesCache) return tilesCache;
    const count = computedTiles;
    const stepStart = new Int32Array(F + 1);
    const group = new Int32Array(count);
    const share = new Float64Array(count);
    const kRef = new Int32Array(count);
    const kCount = new Float64Array(count);
    const dStart = new Int32Array(count + 1);
    // Runs of equal diagonal values (a striped tile has one run over every cell, not 64 entries).
    const dLo: number[] = [];
    const dHi: number[] = [];
    const dVal: number[] = [];
    const groupRank: number[] = [];
    const groupSeg: number[] = [];
    // Each rank's groups, with a query segment of each: a rank has a few query segments, found by
    // value (some strategies make new segment objects every step), with no string keys.
    const rankGroups: (number[] | undefined)[] = new Array<number[] | undefined>(P);
    const groupQ: Segment[] = [];
    const groupFor = (rank: number, q: Segment): number => {
      const gs = rankGroups[rank] ?? (rankGroups[rank] = []);
      for (let a = 0; a < gs.length; a++) {
        const g = gs[a] as number;
        const s = groupQ[g] as Segment;
        if (s === q || (s.start === q.start && s.count === q.count && s.stride === q.stride)) return g;
      }
      const g = groupRank.length;
      groupRank.push(rank);
      groupSeg.push(segOf(q));
      groupQ.push(q);
      gs.push(g);
      return g;
    };
    // Whether any tile's keys or diagonal span several cells (see Tiles.spans).
    let spans = false;
    let lastQ: Segment | null = null;
    let lastRank = -1;
    let lastGroup = -1;
    let t = 0;
    for (let f = 0; f < steps.length; f++) {
      stepStart[f] = t;
      for (const rc of schedule.steps[steps[f] as number]?.compute ?? []) {
        const hs = Math.max(1, rc.heads.end - rc.heads.start) / allHeads;
        for (const tile of rc.tiles) {
          if (tile.pairs <= 0) continue;
          const firstRun = dVal.length;
          dStart[t] = firstRun;
          const q = tile.q;
          // Consecutive tiles of a rank mostly share their query segment.
          const g = q === lastQ && rc.rank === lastRank ? lastGroup : groupFor(rc.rank, q);
          lastQ = q;
          lastRank = rc.rank;
          lastGroup = g;
          group[t] = g;
          const kv = tile.kv;
          share[t] = hs;
          // The group's segment knows the query's cells.
          const Q = segs[groupSeg[g] as number] as SegCells;
          const i0 = Q.lo;
          const i1 = Q.hi;
          const j0 = cellAt(kv.start);
          const j1 = cellAt(segmentLast(kv));
          if (j0 === j1) {
            kRef[t] = j0;
            kCount[t] = kv.count;
          } else {
            kRef[t] = ~segOf(kv);
            spans = true;
          }
          if (i0 === i1 && j0 === j1) {
            // One cell each (the common case): on the diagonal, every pair of the tile is in that cell.
            if (i0 === j0) {
              dLo.push(i0);
              dHi.push(i0);
              dVal.push(hs * tile.pairs);
            }
            t++;
            continue;
          }
          // The diagonal cells both segments reach, one run of equal (count, offset) pairs at a
          // time: the pairs of a cell depend on those only.
          const K = j0 === j1 ? null : (segs[~(kRef[t] as number)] as SegCells);
          const lo = Math.max(Q.lo, K ? K.lo : j0);
          const hi = Math.min(Q.hi, K ? K.hi : j0);
          if (hi > lo) spans = true;
          let qr = 0;
          let kr = 0;
          for (let i = lo; i <= hi; ) {
            while ((Q.runAt[qr + 1] as number) <= i) qr++;
            let end = Math.min(hi, (Q.runAt[qr + 1] as number) - 1);
            let kc = kv.count;
            let ko = kv.start - (bound[i] as number);
            if (K) {
              while ((K.runAt[kr + 1] as number) <= i) kr++;
              end = Math.min(end, (K.runAt[kr + 1] as number) - 1);
              kc = K.count[i - K.lo] as number;
              ko = K.off[i - K.lo] as number;
            }
            const qc = Q.count[i - Q.lo] as number;
            if (qc > 0 && kc > 0) {
              const b = bound[i] as number;
              const pp = safePairs({ start: b + (Q.off[i - Q.lo] as number), count: qc, stride: q.stride }, { start: b + ko, count: kc, stride: kv.stride });
              if (pp > 0) {
                const v = hs * pp;
                const last = dVal.length - 1;
                if (last >= firstRun && dVal[last] === v && dHi[last] === i - 1) dHi[last] = end;
                else {
                  dLo.push(i);
                  dHi.push(end);
                  dVal.push(v);
                }
              }
            }
            i = end + 1;
          }
          t++;
        }
      }
    }
    stepStart[steps.length] = t;
    for (let f = steps.length + 1; f <= F; f++) stepStart[f] = t;
    dStart[t] = dVal.length;
    tilesCache = {
      stepStart,
      group,
      share,
      kRef,
      kCount,
      dStart,
      // The constructors, not TypedArray.from: from() took more time than the whole tile loop.
      dLo: new Int32Array(dLo),
      dHi: new Int32Array(dHi),
      dVal: new Float64Array(dVal),
      groupRank: new Int32Array(groupRank),
      groupSeg: new Int32Array(groupSeg),
      groupPattern: new Int32Array(groupSeg.map((sg) => segPattern[sg] as number)),
      spans,
    };
    return tilesCache;
  };

  // Views of the shared per-slot scratch (see Scratch), taken by sumSteps.
  let sumK = new Float64Array(0);
  let sumD = new Float64Array(0);
  let kNext = new Int32Array(0);
  let dNext = new Int32Array(0);
  let kCut = new Uint8Array(0);
  let dCut = new Uint8Array(0);
  let used = new Uint8Array(0);
  const reserve = (nSlots: number): void => {
    const v = scratchViews(nSlots, n);
    ({ sumK, sumD, kNext, dNext, kCut, dCut, used } = v);
  };
  /**
   * Sums steps (from, to]'s tiles into per-slot key and diagonal vectors (sumK, sumD at slot·n):
   * a slot per group (byGroup) or per query pattern. Returns the slots touched, with their query segment.
   *
   * Cells between two consecutive ends of the slot's runs receive the same values in the same order,
   * so only the first cell of each such stretch is summed (a striped slot: 1 cell, not 64 per tile)
   * and the others copy it: the same sums, added in the same order, as cell by cell.
   */
  const sumSteps = (from: number, to: number, byGroup: boolean): { slots: number[]; segOfSlot: number[] } => {
    const T = tiles();
    const nSlots = byGroup ? T.groupRank.length : patternByValue.size;
    reserve(nSlots);
    const slots: number[] = [];
    const segOfSlot: number[] = [];
    const begin = T.stepStart[from + 1] as number;
    const end = T.stepStart[to + 1] as number;
    /** Group g's slot, listed (with its segment) the first time a tile of these steps uses it. */
    const claim = (g: number): number => {
      const sl = byGroup ? g : (T.groupPattern[g] as number);
      if (used[sl] === 0) {
        used[sl] = 1;
        slots.push(sl);
        segOfSlot.push(T.groupSeg[g] as number);
      }
      return sl;
    };
    if (!T.spans) {
      // Every key and diagonal run is one cell (contiguous shards, cells no smaller than a shard):
      // no stretches to find, one pass.
      for (let t = begin; t < end; t++) {
        const hs = T.share[t] as number;
        const sl = claim(T.group[t] as number);
        const j = sl * n + (T.kRef[t] as number);
        sumK[j] = (sumK[j] as number) + hs * (T.kCount[t] as number);
        for (let d = T.dStart[t] as number, dEnd = T.dStart[t + 1] as number; d < dEnd; d++) {
          const i = sl * n + (T.dLo[d] as number);
          sumD[i] = (sumD[i] as number) + (T.dVal[d] as number);
        }
      }
      for (const sl of slots) used[sl] = 0;
      return { slots, segOfSlot };
    }
    // Pass 1: where each slot's key runs and diagonal runs start and end (cuts, per slot n + 1).
    const w = n + 1;
    for (let t = begin; t < end; t++) {
      const sl = claim(T.group[t] as number);
      const cut = sl * w;
      const kr = T.kRef[t] as number;
      if (kr >= 0) {
        kCut[cut + kr] = 1;
        kCut[cut + kr + 1] = 1;
      } else {
        const runAt = (segs[~kr] as SegCells).runAt;
        for (let r = 0; r < runAt.length; r++) kCut[cut + (runAt[r] as number)] = 1;
      }
      const dEnd = T.dStart[t + 1] as number;
      for (let d = T.dStart[t] as number; d < dEnd; d++) {
        dCut[cut + (T.dLo[d] as number)] = 1;
        dCut[cut + (T.dHi[d] as number) + 1] = 1;
      }
    }
    // The next cut after each cell, per slot touched.
    for (const sl of slots) {
      for (let j = n - 1, kn = n, dn = n; j >= 0; j--) {
        kNext[sl * n + j] = kn;
        dNext[sl * n + j] = dn;
        if (kCut[sl * w + j] === 1) kn = j;
        if (dCut[sl * w + j] === 1) dn = j;
      }
    }
    // Pass 2: add each tile to the first cell of every stretch it covers.
    for (let t = begin; t < end; t++) {
      const hs = T.share[t] as number;
      const g = T.group[t] as number;
      const base = (byGroup ? g : (T.groupPattern[g] as number)) * n;
      const kr = T.kRef[t] as number;
      if (kr >= 0) {
        const j = base + kr;
        sumK[j] = (sumK[j] as number) + hs * (T.kCount[t] as number);
      } else {
        const K = segs[~kr] as SegCells;
        for (let r = 0; r + 1 < K.runAt.length; r++) {
          const a = K.runAt[r] as number;
          const v = hs * (K.count[a - K.lo] as number);
          for (let j = a, e = K.runAt[r + 1] as number; j < e; j = kNext[base + j] as number) sumK[base + j] = (sumK[base + j] as number) + v;
        }
      }
      const dEnd = T.dStart[t + 1] as number;
      for (let d = T.dStart[t] as number; d < dEnd; d++) {
        const v = T.dVal[d] as number;
        const hi = T.dHi[d] as number;
        for (let i = T.dLo[d] as number; i <= hi; i = dNext[base + i] as number) sumD[base + i] = (sumD[base + i] as number) + v;
      }
    }
    // Pass 3: the other cells of each stretch copy its first.
    for (const sl of slots) {
      const base = sl * n;
      for (let j = 1; j < n; j++) {
        if (kCut[sl * w + j] === 0) sumK[base + j] = sumK[base + j - 1] as number;
        if (dCut[sl * w + j] === 0) sumD[base + j] = sumD[base + j - 1] as number;
      }
      kCut.fill(0, sl * w, sl * w + w);
      dCut.fill(0, sl * w, sl * w + w);
      kNext.fill(0, base, base + n);
      dNext.fill(0, base, base + n);
      used[sl] = 0;
    }
    return { slots, segOfSlot };
  };
  /**
   * Adds a slot's q ⊗ K (below the diagonal) and D (on it) to a row of cells, then clears the slot.
   */
  const spreadSlot = (sl: number, seg: number, row: Float32Array | Float64Array): void => {
    const Q = segs[seg] as SegCells;
    const base = sl * n;
    let kLo = 0;
    while (kLo < n && sumK[base + kLo] === 0) kLo++;
    for (let i = Q.lo; i <= Q.hi; i++) {
      const q = Q.count[i - Q.lo] as number;
      const rowAt = i * n;
      if (q > 0) {
        for (let j = kLo; j < i; j++) {
          const k = sumK[base + j] as number;
          if (k !== 0) row[rowAt + j] = (row[rowAt + j] as number) + q * k;
        }
      }
      const dv = sumD[base + i] as number;
      if (dv !== 0) row[rowAt + i] = (row[rowAt + i] as number) + dv;
    }
    sumK.fill(0, base, base + n);
    sumD.fill(0, base, base + n);
  };
  /** Adds steps (from, to]'s work to a row of cells. */
  const accumulate = (from: number, to: number, row: Float32Array | Float64Array): void => {
    if (to <= from) return;
    const { slots, segOfSlot } = sumSteps(from, to, false);
    for (let a = 0; a < slots.length; a++) spreadSlot(slots[a] as number, segOfSlot[a] as number, row);
    scratch.clean = true;
  };

  let owners: { owner: Int16Array; sharers: Int16Array } | null = null;
  /**
   * The rank that did most of each cell (≥ 60%, else −2 and up to four sharers). A rank's work in
   * cell (i, j < i) is Σ over its groups of q[i]·ΣK[j] (on the diagonal: ΣD[i]). Rows with the same
   * query counts in every group and columns with the same ΣK in every group have the same work
   * per rank, so below the diagonal the owners are found once per block of such rows × columns (a
   * striped or Ulysses matrix is one block; a ring one is cell by cell), then copied to its cells.
   * Ranks in ascending order, each rank's groups in the order the tiles first reach them: every
   * sum is added in the order the straightforward per-cell fold adds it.
   */
  const ownersOf = (): { owner: Int16Array; sharers: Int16Array } => {
    if (owners) return owners;
    const owner = new Int16Array(n2).fill(-1);
    const sharers = new Int16Array(n2 * 4).fill(-1);
    const T = tiles();
    const { slots } = sumSteps(-1, steps.length - 1, true);
    const G = slots.length;
    // The groups touched, by rank (a counting sort keeps the first-touch order within a rank).
    const rankStart = new Int32Array(P + 1);
    for (const g of slots) rankStart[(T.groupRank[g] as number) + 1] = (rankStart[(T.groupRank[g] as number) + 1] as number) + 1;
    for (let r = 0; r < P; r++) rankStart[r + 1] = (rankStart[r + 1] as number) + (rankStart[r] as number);
    const byRank = new Int32Array(G);
    for (const g of slots) {
      const r = T.groupRank[g] as number;
      byRank[rankStart[r] as number] = g;
      rankStart[r] = (rankStart[r] as number) + 1;
    }

    // Each row's groups with queries there, in byRank order (bucketed by row: a group reaches only
    // its segment's rows): row i's are act[rowFirst[i] .. rowFirst[i+1]).
    const rowFirst = new Int32Array(n + 1);
    for (let a = 0; a < G; a++) {
      const Q = segs[T.groupSeg[byRank[a] as number] as number] as SegCells;
      for (let i = Q.lo; i <= Q.hi; i++) if ((Q.count[i - Q.lo] as number) > 0) rowFirst[i + 1] = (rowFirst[i + 1] as number) + 1;
    }
    for (let i = 0; i < n; i++) rowFirst[i + 1] = (rowFirst[i + 1] as number) + (rowFirst[i] as number);
    const actGroup = new Int32Array(rowFirst[n] as number);
    const actQ = new Float64Array(rowFirst[n] as number);
    const fillAt = rowFirst.slice(0, n);
    for (let a = 0; a < G; a++) {
      const g = byRank[a] as number;
      const Q = segs[T.groupSeg[g] as number] as SegCells;
      for (let i = Q.lo; i <= Q.hi; i++) {
        const q = Q.count[i - Q.lo] as number;
        if (q <= 0) continue;
        const x = fillAt[i] as number;
        actGroup[x] = g;
        actQ[x] = q;
        fillAt[i] = x + 1;
      }
    }
    // Row runs: consecutive rows with the same groups and query counts. Run u is rows
    // rowAt[u] .. rowAt[u+1] − 1; its groups are its first row's.
    const rowAt: number[] = [];
    for (let i = 0; i < n; i++) {
      const from = rowFirst[i] as number;
      const len = (rowFirst[i + 1] as number) - from;
      const prev = i > 0 ? (rowFirst[i - 1] as number) : -1;
      let same = i > 0 && len === from - prev;
      for (let x = 0; same && x < len; x++) same = actGroup[prev + x] === actGroup[from + x] && actQ[prev + x] === actQ[from + x];
      if (!same) rowAt.push(i);
    }
    rowAt.push(n);
    // Column runs: consecutive columns where every group's ΣK is the same.
    const colAt: number[] = [0];
    for (let j = 1; j < n; j++) {
      let same = true;
      for (let a = 0; a < G && same; a++) {
        const at = (byRank[a] as number) * n + j;
        same = sumK[at] === sumK[at - 1];
      }
      if (!same) colAt.push(j);
    }
    colAt.push(n);

    // Folds per-rank work w into the owner of a cell (or block): the running sum, the largest share
    // (ties keep the lower rank) and the first four ranks with work.
    let fSum = 0;
    let fBest = 0;
    let fOwner = -1;
    let fShared = 0;
    const fSharers = new Int16Array(4);
    const foldStart = (): void => {
      fSum = 0;
      fBest = 0;
      fOwner = -1;
      fShared = 0;
      fSharers[0] = fSharers[1] = fSharers[2] = fSharers[3] = -1;
    };
    const fold = (w: number, rank: number): void => {
      if (w <= 0) return;
      fSum += w;
      if (w > fBest) {
        fBest = w;
        fOwner = rank;
      }
      if (fShared < 4) fSharers[fShared++] = rank;
    };
    /** Writes the folded owner to cell c; false when nobody worked there. */
    const foldEnd = (): boolean => {
      if (fSum <= 0) return false;
      if (fBest < 0.6 * fSum) fOwner = -2;
      return true;
    };
    const write = (c: number): void => {
      owner[c] = fOwner;
      if (fOwner === -2) for (let k = 0; k < 4; k++) sharers[c * 4 + k] = fSharers[k] as number;
    };

    /**
     * Folds the work of the active groups a0..a1 in column `col` of `sums` (times each group's query
     * count when byQ), rank by rank; true when the cells it stands for have an owner to write.
     */
    const foldGroups = (a0: number, a1: number, sums: Float64Array, col: number, byQ: boolean): boolean => {
      foldStart();
      let rank = T.groupRank[actGroup[a0] as number] as number;
      let w = 0;
      for (let a = a0; a < a1; a++) {
        const g = actGroup[a] as number;
        const r = T.groupRank[g] as number;
        if (r !== rank) {
          fold(w, rank);
          rank = r;
          w = 0;
        }
        const x = sums[g * n + col] as number;
        if (x !== 0) w += byQ ? (actQ[a] as number) * x : x;
      }
      fold(w, rank);
      return foldEnd();
    };

    for (let u = 0; u + 1 < rowAt.length; u++) {
      const r0 = rowAt[u] as number;
      const r1 = (rowAt[u + 1] as number) - 1;
      const a0 = rowFirst[r0] as number;
      const a1 = rowFirst[r0 + 1] as number;
      if (a1 === a0) continue;
      // Below the diagonal: one fold per column run (its first column stands for all).
      for (let v = 0; v + 1 < colAt.length && (colAt[v] as number) < r1; v++) {
        const c0 = colAt[v] as number;
        const c1 = Math.min((colAt[v + 1] as number) - 1, r1 - 1);
        if (!foldGroups(a0, a1, sumK, c0, true)) continue;
        for (let i = Math.max(r0, c0 + 1); i <= r1; i++) for (let j = c0, end = Math.min(c1, i - 1); j <= end; j++) write(i * n + j);
      }
      // The diagonal, cell by cell (its pairs differ from row to row).
      for (let i = r0; i <= r1; i++) if (foldGroups(a0, a1, sumD, i, false)) write(i * n + i);
    }
    for (const g of slots) {
      sumK.fill(0, g * n, g * n + n);
      sumD.fill(0, g * n, g * n + n);
    }
    scratch.clean = true;
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
      accumulate(f - 1, f, one);
      for (let c = 0; c < n2; c++) if ((one[c] as number) > 0 && first[c] === -1) first[c] = f;
    }
    return first;
  };

  const cumAt = cumulativeRows(n2, steps.length, (from, to, row) => accumulate(from, to, row));
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
 * Per-slot scratch of every work matrix's sums, one buffer for all: a parameter change builds a new
 * matrix, and a new buffer each time (hundreds of KB at 64 ranks) cost more than the sums. It is
 * all zero between sums (the layout depends on the slot count): sumSteps zeroes its cuts and links,
 * the reader the sums of the slots it used, then sets `clean`; a reader that threw leaves it dirty
 * and the next sum zeroes it all.
 */
const scratch = { buf: new ArrayBuffer(0), clean: true };

interface ScratchViews {
  /** Sums per slot (n each): keys per cell, diagonal pairs per cell. */
  sumK: Float64Array<ArrayBuffer>;
  sumD: Float64Array<ArrayBuffer>;
  /** Per slot, per cell: the next cut after it (n each). */
  kNext: Int32Array<ArrayBuffer>;
  dNext: Int32Array<ArrayBuffer>;
  /** Per slot: the cells where a run starts or ends (n + 1 each). */
  kCut: Uint8Array<ArrayBuffer>;
  dCut: Uint8Array<ArrayBuffer>;
  /** Per slot: touched by the current sum. */
  used: Uint8Array<ArrayBuffer>;
}

function scratchViews(nSlots: number, n: number): ScratchViews {
  const f64 = nSlots * n * 8;
  const i32 = nSlots * n * 4;
  const cuts = nSlots * (n + 1);
  const bytes = 2 * f64 + 2 * i32 + 2 * cuts + nSlots;
  if (scratch.buf.byteLength < bytes) {
    scratch.buf = new ArrayBuffer(Math.max(bytes, 2 * scratch.buf.byteLength));
    scratch.clean = true;
  } else if (!scratch.clean) new Uint8Array(scratch.buf).fill(0);
  scratch.clean = false;
  const buf = scratch.buf;
  return {
    sumK: new Float64Array(buf, 0, nSlots * n),
    sumD: new Float64Array(buf, f64, nSlots * n),
    kNext: new Int32Array(buf, 2 * f64, nSlots * n),
    dNext: new Int32Array(buf, 2 * f64 + i32, nSlots * n),
    kCut: new Uint8Array(buf, 2 * f64 + 2 * i32, cuts),
    dCut: new Uint8Array(buf, 2 * f64 + 2 * i32 + cuts, cuts),
    used: new Uint8Array(buf, 2 * f64 + 2 * i32 + 2 * cuts, nSlots),
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
