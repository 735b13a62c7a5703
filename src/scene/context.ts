// The small drawing context every part of the scene shares: the instance pools, the layout, the
// overlay labels, the theme, and the model of the current schedule (what each step holds and
// moves, computed once per schedule). Parts read it and push boxes and labels; index.ts owns it.

import { PlaneGeometry } from 'three';
import type { Params } from '../model/params.ts';
import type { HeadRange, TokenSet, ValidSchedule } from '../model/schedule.ts';
import { PALETTES, tokenColor, type Palette, type Theme } from './colors.ts';
import { displayBlockTokens, headSpan, matrixCells, segmentPieces, tensorScales, tokenSpan, type ColumnBox, type LaneBox, type Piece, type Rect, type SceneLayout, computeLayout } from './layout.ts';
import { buildWorkMatrix, type WorkMatrix } from './matrix.ts';
import { columnOf, holdingsAt, tracksForStep, type ColumnId, type Holding, type Track } from './tracks.ts';
import { Pool, diamondGeometry, slantGeometry } from './pool.ts';
import type { OverlayDom } from './overlay.ts';
// The scene's labels share the UI's text writer (a sole text node is rewritten in place).
export { setText } from '../ui/dom.ts';

/** What the scene reads from a verification result (structurally; see src/gpu/verify.ts). */
export interface SceneVerification {
  readonly softmaxTrace?: unknown;
  readonly backend?: string;
  readonly seqLen?: number;
}

/** What the scene reads of the Plan (structurally; see src/model/plan.ts): each rank's modelled memory per step. */
export interface ScenePlan {
  readonly schedule: unknown;
  readonly gpu: { readonly name: string; readonly memoryBytes: number };
  readonly perRank: readonly {
    readonly memoryByStep: readonly number[];
    readonly memory: { readonly peak: number; readonly peakStep: number; readonly atPeak: Readonly<Record<'weights' | 'grads' | 'optimizer' | 'activations' | 'kvWorkingSet' | 'scores' | 'logits', number>> };
  }[];
}

export interface Pools {
  /** What changes only with the layout, theme or schedule (lanes, legend, swatches, outlines). */
  readonly base: Pool;
  /** The work matrix: highlight frames of this step's cells, then one fixed slot per cell (or band). */
  readonly cellFrames: Pool;
  readonly cells: Pool;
  /** Per step: holdings, bars, loss marks. */
  readonly blocks: Pool;
  readonly grads: Pool;
  readonly marks: Pool;
  /** Per frame: moving pieces, arrows and their bundles. */
  readonly fly: Pool;
  readonly flyGrad: Pool;
  readonly flyMark: Pool;
}

export function createPools(): Pools {
  const quad = new PlaneGeometry(1, 1);
  const pools: Pools = {
    base: new Pool(quad, 8192, 0),
    cellFrames: new Pool(quad.clone(), 4096, 1),
    cells: new Pool(quad.clone(), 16384, 2),
    blocks: new Pool(quad.clone(), 24576, 3),
    grads: new Pool(slantGeometry(), 8192, 4),
    marks: new Pool(diamondGeometry(), 2048, 5),
    fly: new Pool(quad.clone(), 16384, 6),
    flyGrad: new Pool(slantGeometry(), 8192, 7),
    flyMark: new Pool(diamondGeometry(), 1024, 8),
  };
  return pools;
}

export function poolList(p: Pools): Pool[] {
  return [p.base, p.cellFrames, p.cells, p.blocks, p.grads, p.marks, p.fly, p.flyGrad, p.flyMark];
}

export interface Model {
  readonly schedule: ValidSchedule;
  readonly params: Params;
  readonly block: number;
  readonly matrix: WorkMatrix;
  readonly maxWork: number;
  readonly groups: readonly number[];
  /** Per step: what each rank holds, and what moves (each step computed on first read, then kept). */
  readonly holdings: readonly (readonly Holding[])[];
  readonly tracks: readonly (readonly Track[])[];
  /** Forward progress (index into matrix.steps) of each step. */
  readonly progress: Int32Array;
  /** Cells computed by more than one rank (bands in the matrix). */
  readonly shared: boolean;
  /** Drawn pieces (and their colours) of each token set the schedule holds, cached by identity. */
  readonly pieces: WeakMap<TokenSet, PieceList>;
  readonly busiestRatio: number;
}

export interface PieceList {
  /** [t0, t1) per piece. */
  readonly rects: Float64Array;
  /** RGB per piece. */
  readonly colors: Float32Array;
}

/** Everything a step change needs, computed once per schedule rather than on every step. Pure. */
/** `matrix`: the schedule's work matrix when already built (by the planner worker, app/planner.ts). */
export function buildModel(schedule: ValidSchedule, params: Params, matrix = buildWorkMatrix(schedule, matrixCells(schedule.seq, schedule.ranks))): Model {
  const F = Math.max(1, matrix.steps.length);
  const P = schedule.ranks;
  let maxWork = 0;
  let minWork = Infinity;
  for (let r = 0; r < P; r++) {
    const w = matrix.perRank[(F - 1) * P + r] ?? 0;
    maxWork = Math.max(maxWork, w);
    minWork = Math.min(minWork, w);
  }
  const progress = new Int32Array(schedule.steps.length);
  // forwardProgress for every step in one walk.
  for (let i = 0, f = -1; i < schedule.steps.length; i++) {
    while (f + 1 < matrix.steps.length && (matrix.steps[f + 1] as number) <= i) f++;
    progress[i] = schedule.steps[i]?.phase === 'forward' ? f : matrix.steps.length - 1;
  }
  let shared: boolean | null = null;
  return {
    schedule,
    params,
    block: displayBlockTokens(schedule.seq, schedule.ranks),
    matrix,
    maxWork,
    groups: schedule.shards.map((x) => x.node),
    holdings: lazyPerStep(schedule.steps.length, (i) => holdingsAt(schedule, i, { heads: params.heads, kvHeads: params.kvHeads })),
    tracks: lazyPerStep(schedule.steps.length, (i) => tracksForStep(schedule, i)),
    progress,
    // Read when the matrix is drawn (the owners are computed on first read).
    get shared() {
      if (shared === null) {
        shared = false;
        const owner = matrix.owner;
        for (let c = 0; c < owner.length && !shared; c++) if (owner[c] === -2) shared = true;
      }
      return shared;
    },
    pieces: new WeakMap(),
    busiestRatio: minWork > 0 ? maxWork / minWork : Infinity,
  };
}

/**
 * A read-only array of `length` entries whose entry i is compute(i), computed on first read and kept.
 * A parameter change rebuilds the model; building every step's holdings and tracks up front (tens
 * of thousands of objects at 64 ranks) cost more than the few steps a user then looks at.
 */
export function lazyPerStep<T>(length: number, compute: (i: number) => T): readonly T[] {
  const cache: (T | undefined)[] = new Array<T | undefined>(length);
  const index = (key: string | symbol): number => {
    if (typeof key !== 'string') return -1;
    const i = Number(key);
    return Number.isInteger(i) && i >= 0 && i < length && String(i) === key ? i : -1;
  };
  return new Proxy(cache as T[], {
    get(target, key, receiver) {
      const i = index(key);
      if (i < 0) return Reflect.get(target, key, receiver) as unknown;
      let v = target[i];
      if (v === undefined) target[i] = v = compute(i);
      return v;
    },
    has(target, key) {
      return index(key) >= 0 || Reflect.has(target, key);
    },
    set() {
      return false;
    },
  });
}

export interface SceneContext {
  readonly pools: Pools;
  readonly dom: OverlayDom;
  theme: Theme;
  palette: Palette;
  layout: SceneLayout;
  model: Model | null;
  /** Why the current schedule cannot run (null when it can). */
  invalidReason: string | null;
  verification: SceneVerification | null;
  /** The plan priced for the current schedule (memory per rank and step), when the app gives one. */
  plan: ScenePlan | null;
  labelBug: boolean;
  /** Presentation mode (embed or present=1): large type, one-line captions, a big step counter. */
  present: boolean;
  /** Type scale of the overlay (1 on the page; grows with the frame in presentation mode). */
  k: number;
  /** Set to -1 to have the frame rebuild the current step's static content. */
  builtStep: number;
  /** blockY results for the current layout and schedule (cleared on relayout and schedule change). */
  readonly blockYCache: Map<number, { y: number; h: number }>;
}

export function createContext(dom: OverlayDom): SceneContext {
  return {
    pools: createPools(),
    dom,
    theme: 'dark',
    palette: PALETTES.dark,
    layout: computeLayout(800, 450, [0]),
    model: null,
    invalidReason: null,
    verification: null,
    plan: null,
    labelBug: false,
    present: false,
    k: 1,
    builtStep: -1,
    blockYCache: new Map(),
  };
}

export function laneOf(ctx: SceneContext, rank: number): LaneBox | undefined {
  return ctx.layout.lanes[rank];
}

export function column(ctx: SceneContext, id: ColumnId): ColumnBox {
  return ctx.layout.columns.find((c) => c.id === id) as ColumnBox;
}

/** Distance between the tops of consecutive lanes. */
export function lanePitch(layout: SceneLayout): number {
  return layout.lanes.length > 1 ? (layout.lanes[1] as LaneBox).y - (layout.lanes[0] as LaneBox).y : (layout.lanes[0]?.h ?? 20);
}

const TENSOR_INDEX: Record<string, number> = { X: 0, Q: 1, dQ: 2, K: 3, V: 4, dK: 5, dV: 6, O: 7, dO: 8, loss: 9 };

/** Vertical extent of a tensor block inside a lane (cached per layout and schedule). */
export function blockY(ctx: SceneContext, lane: LaneBox, tensor: string, heads: HeadRange, m: Model): { y: number; h: number } {
  const key = ((lane.rank * 16 + (TENSOR_INDEX[tensor] ?? 15)) * 4097 + heads.start) * 4097 + heads.end;
  const hit = ctx.blockYCache.get(key);
  if (hit) return hit;
  const out = tensorBlockY(lane, tensor, heads, m.params.heads, m.params.kvHeads);
  ctx.blockYCache.set(key, out);
  return out;
}

/** K sits in the top half of the K/V block, V in the bottom; Q/O span their heads; X spans the lane. Pure. */
export function tensorBlockY(lane: Rect, tensor: string, heads: HeadRange, totalHeads: number, kvHeads: number): { y: number; h: number } {
  const b = tensorBlockYUnclamped(lane, tensor, heads, totalHeads, kvHeads);
  // Never outside the lane (a minimum height on a 6 px lane would reach into the next one).
  const y = Math.max(lane.y, Math.min(b.y, lane.y + lane.h - 0.3));
  return { y, h: Math.max(0.3, Math.min(b.h, lane.y + lane.h - y)) };
}

function tensorBlockYUnclamped(lane: Rect, tensor: string, heads: HeadRange, totalHeads: number, kvHeads: number): { y: number; h: number } {
  const scales = tensorScales(totalHeads, kvHeads);
  const col = columnOf(tensor as never);
  if (col === 'kv') {
    const span = headSpan(lane, heads, kvHeads, scales.kv);
    const half = span.h / 2;
    const isV = tensor === 'V' || tensor === 'dV';
    const gap = Math.min(1, half * 0.2);
    return { y: span.y + (isV ? half + gap / 2 : 0), h: Math.max(0.6, half - gap / 2) };
  }
  if (tensor === 'X') return headSpan(lane, { start: 0, end: 1 }, 1, scales.q);
  return headSpan(lane, heads, totalHeads, scales.q);
}

/** Pieces of a token set as [t0, t1) pairs with their colours, computed once per set (sets are shared by identity across steps). */
export function piecesOf(tokens: TokenSet, m: Model): PieceList {
  const hit = m.pieces.get(tokens);
  if (hit) return hit;
  const list: Piece[] = [];
  for (const seg of tokens) for (const piece of segmentPieces(seg, m.block, 192)) list.push(piece);
  const rects = new Float64Array(list.length * 2);
  const colors = new Float32Array(list.length * 3);
  const denom = Math.max(1, m.schedule.seq - 1);
  list.forEach((p, i) => {
    rects[2 * i] = p.t0;
    rects[2 * i + 1] = p.t1;
    const c = tokenColor(p.mid / denom);
    colors[3 * i] = c[0];
    colors[3 * i + 1] = c[1];
    colors[3 * i + 2] = c[2];
  });
  const out = { rects, colors };
  m.pieces.set(tokens, out);
  return out;
}

/** Draws a token set into a column at (y, h); `dim` mixes toward the lane colour (idle ranks), `shift` recolours by position + shift (labels). */
export function drawSet(ctx: SceneContext, pool: Pool, col: ColumnBox, tokens: TokenSet, y: number, h: number, m: Model, dim: number, shift = 0): void {
  const lane = ctx.palette.lane;
  if (shift !== 0) {
    // Labels (shifted by one token): rare (the loss step), not cached.
    for (const seg of tokens) {
      for (const piece of segmentPieces(seg, m.block, 192)) {
        const span = tokenSpan(col, m.schedule.seq, piece.t0, piece.t1);
        const w = Math.max(1, span.w - (span.w > 4 ? 1 : 0));
        const c = tokenColor((piece.mid + shift) / Math.max(1, m.schedule.seq - 1));
        pool.push(span.x, y, w, h, dim > 0 ? [c[0] + (lane[0] - c[0]) * dim, c[1] + (lane[1] - c[1]) * dim, c[2] + (lane[2] - c[2]) * dim] : c);
      }
    }
    return;
  }
  const { rects, colors } = piecesOf(tokens, m);
  const k = col.w / m.schedule.seq;
  const n = rects.length / 2;
  for (let i = 0; i < n; i++) {
    const t0 = rects[2 * i] as number;
    const sw = ((rects[2 * i + 1] as number) - t0) * k;
    const w = Math.max(1, sw - (sw > 4 ? 1 : 0));
    if (pool.count >= pool.capacity) {
      pool.dropped++;
      continue;
    }
    const j = pool.count++;
    pool.setRect(j, col.x + t0 * k, y, w, h);
    const r = colors[3 * i] as number;
    const g = colors[3 * i + 1] as number;
    const b = colors[3 * i + 2] as number;
    if (dim > 0) pool.setColor(j, r + (lane[0] - r) * dim, g + (lane[1] - g) * dim, b + (lane[2] - b) * dim);
    else pool.setColor(j, r, g, b);
  }
}

