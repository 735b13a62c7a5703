// Transfer motion: every Transfer of the step's collectives drawn from its source lane to its
// destination lane, in the column of its tensor and at its global token positions, so a piece
// never leaves its column. One grammar per collective kind:
// - send-recv (ring): a neighbour hop one lane down; the wrap (last rank → first) leaves through
//   the bottom of the lanes and re-enters at the top, never travelling through the other lanes;
// - all-gather: the source's shard fans out to every lane;
// - reduce-scatter: partial sums fan in to their owner, which shows "Σ n";
// - all-to-all: each sequence shard splits by heads and lands as a head shard;
// - all-reduce (loss): the 8-byte (Σℓ, count) pair hops around the ring.
// The geometry is pure (planMotion, pieceAt), so it is unit-tested for every strategy.

import { formatBytes } from '../model/format.ts';
import type { CollectiveKind, TensorKind, TokenSet, Transfer, ValidSchedule } from '../model/schedule.ts';
import { eachTransfer, transferAt } from '../model/scheduleCodec.ts';
import { rankColor } from './colors.ts';
import { blockY, column, lanePitch, laneOf, piecesOf, type PieceList, type SceneContext } from './context.ts';
import type { ColumnBox } from './layout.ts';
import { fitText, textWidth, type Label } from './overlay.ts';
import { labelledLanes } from './stage.ts';
import { COLUMNS, columnOf, isGradient, trackOf, tracksWhere, type Track } from './tracks.ts';

/** Pieces a step may fly before the scene shows representative lanes only (keeps a frame ≤ 2 ms at 64 ranks). */
export const FLY_BUDGET = 3000;

/** One moving tensor block: where it starts and lands in its column. */
export interface MotionGeo {
  readonly tr: Track;
  readonly col: ColumnBox;
  readonly ya: { readonly y: number; readonly h: number };
  readonly yb: { readonly y: number; readonly h: number };
  /** A ring's wrap (last → first): leaves through the lanes' bottom, re-enters at their top. */
  readonly wrap: boolean;
  readonly pieces: PieceList;
  /**
   * Reduce-scatter: this partial's slot among the n partials arriving at the same destination block
   * (k of n). Partials land stacked in thin slots, then merge into the one summed block.
   */
  readonly sum: { readonly k: number; readonly n: number } | null;
}

export interface MotionPlan {
  readonly geos: readonly MotionGeo[];
  /** Lanes the stage area spans (the wrap's portal edges). */
  readonly top: number;
  readonly bottom: number;
  /** Transfers left out because the step exceeds the budget (shown as representative lanes). */
  readonly omittedTransfers: number;
  /** Destination ranks drawn, when aggregated (null: all). */
  readonly shownRanks: readonly number[] | null;
}

/** Hold on the source for the first 15%, travel, rest on the destination from 85%. */
export function travel(progress: number): number {
  const t = Math.min(1, Math.max(0, (progress - 0.15) / 0.7));
  return t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
}

/** Where a reduce-scatter partial is at `progress`: travels into its slot (k of n), then the slots merge into the block (at 1: exactly yb). Pure. */
export function sumPieceAt(g: Pick<MotionGeo, 'ya' | 'yb'>, slot: { k: number; n: number }, progress: number): { y: number; h: number } {
  const t = travel(progress);
  const mergeT = Math.min(1, Math.max(0, (progress - 0.85) / 0.15));
  const merge = mergeT * mergeT * (3 - 2 * mergeT);
  const slotH = g.yb.h / slot.n;
  const ty = g.yb.y + slot.k * slotH * (1 - merge);
  const th = slotH + (g.yb.h - slotH) * merge;
  return { y: g.ya.y + (ty - g.ya.y) * t, h: g.ya.h + (th - g.ya.h) * t };
}

/** The loss all-reduce's hops of the step (none outside the loss steps). */
function lossTracksOf(schedule: ValidSchedule, stepIndex: number): Track[] {
  if (schedule.steps[stepIndex]?.phase !== 'loss') return [];
  return tracksWhere(schedule, stepIndex, (t) => t.src !== t.dst && t.tensor === 'loss');
}

/** A ring hop that goes against the ring's direction (dst below src): the wrap. */
export function isWrap(kind: CollectiveKind, src: number, dst: number, groupSize: number): boolean {
  return (kind === 'send-recv' || kind === 'all-reduce') && groupSize > 2 && dst < src;
}

/** Which drawn pieces of the step move where (everything but the interpolation). Pure but for the caches in ctx. */
export function planMotion(ctx: SceneContext, stepIndex: number): MotionPlan {
  const m = ctx.model;
  const L = ctx.layout;
  const top = L.columnTitles.y + L.columnTitles.h;
  const bottom = L.legend.y - 4;
  if (!m) return { geos: [], top, bottom, omittedTransfers: 0, shownRanks: null };
  const step = m.schedule.steps[stepIndex];
  // The moving transfers (collective, index, destination), read without decoding them, and their cost in drawn pieces.
  const movingAt: number[] = [];
  let cost = 0;
  // A collective sends one token set to many ranks in a row: its cost is looked up once per run.
  let lastTokens: TokenSet | null = null;
  let lastCost = 0;
  step?.collectives.forEach((c, ci) =>
    eachTransfer(c, (t) => {
      if (t.src === t.dst || t.tensor === 'loss') return;
      if (t.tokens !== lastTokens) {
        lastTokens = t.tokens;
        lastCost = piecesOf(t.tokens, m).rects.length / 2;
      }
      cost += lastCost;
      movingAt.push(ci, t.index, t.dst);
    }),
  );
  let shown: Set<number> | null = null;
  if (cost > FLY_BUDGET) {
    // Representative destinations: the labelled lanes, thinned until the budget holds.
    let reps = labelledLanes(L);
    const per = cost / Math.max(1, m.schedule.ranks);
    while (reps.length > 2 && per * reps.length > FLY_BUDGET) reps = reps.filter((_, i) => i % 2 === 0 || i === reps.length - 1);
    shown = new Set(reps);
  }
  // Tracks only for what is drawn (the rest are counted as omitted).
  const tracks: Track[] = [];
  for (let i = 0; i < movingAt.length; i += 3) {
    const ci = movingAt[i] as number;
    const collective = step?.collectives[ci];
    if (!collective || (shown && !shown.has(movingAt[i + 2] as number))) continue;
    tracks.push(trackOf(stepIndex, ci, collective, transferAt(collective, movingAt[i + 1] as number) as Transfer));
  }
  const geos: MotionGeo[] = [];
  const omitted = movingAt.length / 3 - tracks.length;
  // Reduce-scatter partials per destination block: their order among the block's sources.
  const partials = new Map<string, number[]>();
  for (const tr of tracks) {
    if (tr.kind !== 'reduce-scatter') continue;
    const key = `${tr.dst}:${tr.tensor}:${tr.collective}`;
    const list = partials.get(key);
    if (list) list.push(tr.src);
    else partials.set(key, [tr.src]);
  }
  for (const tr of tracks) {
    const a = laneOf(ctx, tr.src);
    const b = laneOf(ctx, tr.dst);
    if (!a || !b) continue;
    const group = step?.collectives[tr.collective]?.group.length ?? m.schedule.ranks;
    geos.push({
      tr,
      col: column(ctx, columnOf(tr.tensor)),
      ya: blockY(ctx, a, tr.tensor, tr.heads, m),
      yb: blockY(ctx, b, tr.tensor, tr.heads, m),
      wrap: isWrap(tr.kind, tr.src, tr.dst, group),
      pieces: piecesOf(tr.tokens, m),
      sum: sumSlot(partials.get(`${tr.dst}:${tr.tensor}:${tr.collective}`), tr.src),
    });
  }
  return { geos, top, bottom, omittedTransfers: omitted, shownRanks: shown ? [...shown].sort((x, y) => x - y) : null };
}

/** What draw() shows of a moving block at `progress` (0..1 of the step): its visible parts. Pure. */
export function partsAt(g: Pick<MotionGeo, 'ya' | 'yb' | 'wrap' | 'sum'>, progress: number, top: number, bottom: number): { y: number; h: number }[] {
  if (g.sum) return [sumPieceAt(g, g.sum, progress)];
  return pieceAt(g, travel(progress), top, bottom);
}

function sumSlot(sources: number[] | undefined, src: number): { k: number; n: number } | null {
  if (!sources || sources.length < 2) return null;
  return { k: sources.indexOf(src), n: sources.length };
}

/**
 * Vertical extent of a moving block at eased time t, as up to two visible parts (a wrap is split
 * at the portal). Pure. At t = 1 it is exactly the destination block.
 */
export function pieceAt(g: Pick<MotionGeo, 'ya' | 'yb' | 'wrap'>, t: number, top: number, bottom: number): { y: number; h: number }[] {
  const h = g.ya.h + (g.yb.h - g.ya.h) * t;
  if (!g.wrap) return [{ y: g.ya.y + (g.yb.y - g.ya.y) * t, h }];
  // Down from the source to the bottom edge, then down from the top edge into the destination.
  const d1 = bottom - g.ya.y;
  const d2 = g.yb.y + h - top;
  const s = t * (d1 + d2);
  const out: { y: number; h: number }[] = [];
  const y1 = g.ya.y + s;
  if (s < d1) out.push({ y: y1, h: Math.min(h, bottom - y1) });
  if (s > d1) {
    const y2 = top - h + (s - d1);
    const y = Math.max(top, y2);
    out.push({ y, h: y2 + h - y });
  }
  return out;
}

/** "r3→r4 K,V 67 MB" per destination lane and column; several sources read "7 ranks→r3 …". Pure. */
export function transferLabels(geos: readonly MotionGeo[]): { dst: number; col: ColumnBox; variants: string[]; tip: string; sum: boolean }[] {
  const by = new Map<number, { dst: number; col: ColumnBox; srcs: Set<number>; tensors: Set<TensorKind>; bytes: number; kind: CollectiveKind; wrap: boolean; label: string }>();
  for (const g of geos) {
    const key = g.tr.dst * COLUMNS.length + COLUMNS.indexOf(g.col.id);
    let e = by.get(key);
    if (!e) {
      e = { dst: g.tr.dst, col: g.col, srcs: new Set(), tensors: new Set(), bytes: 0, kind: g.tr.kind, wrap: false, label: g.tr.label };
      by.set(key, e);
    }
    e.srcs.add(g.tr.src);
    e.tensors.add(g.tr.tensor);
    e.bytes += g.tr.bytes;
    e.wrap ||= g.wrap;
  }
  const out: { dst: number; col: ColumnBox; variants: string[]; tip: string; sum: boolean }[] = [];
  for (const e of by.values()) {
    const tensors = [...e.tensors].join(',');
    const n = e.srcs.size;
    const bytes = formatBytes(e.bytes);
    const each = formatBytes(e.bytes / n);
    const sum = e.kind === 'reduce-scatter';
    const from = n === 1 ? `r${[...e.srcs][0]}` : `${n} ranks`;
    const arrow = e.wrap ? '⤵' : '→';
    const head = `${sum ? 'Σ ' : ''}${from}${arrow}r${e.dst}`;
    const variants = n === 1 ? [`${head} ${tensors} ${bytes}`, `${head} ${bytes}`, bytes] : [`${head} ${tensors} ${n}×${each}`, `${head} ${bytes}`, `${sum ? 'Σ ' : ''}${n}→r${e.dst}`, bytes];
    const tip = `${e.label}: rank${n === 1 ? '' : 's'} ${[...e.srcs].join(', ')} → rank ${e.dst}, ${tensors}, ${bytes} at the modelled size${sum ? ' (summed on arrival)' : ''}${e.wrap ? ' (the ring wraps around)' : ''}.`;
    out.push({ dst: e.dst, col: e.col, variants, tip, sum });
  }
  return out;
}

/** Widest free stretch of [x0, x1] that none of `occupied` covers (intervals in px). Pure. */
export function widestGap(x0: number, x1: number, occupied: readonly (readonly [number, number])[]): { x: number; w: number } {
  const sorted = occupied.filter(([a, b]) => b > x0 && a < x1).sort((p, q) => p[0] - q[0]);
  let best = { x: x0, w: 0 };
  let at = x0;
  for (const [a, b] of sorted) {
    if (a - at > best.w) best = { x: at, w: a - at };
    at = Math.max(at, b);
  }
  if (x1 - at > best.w) best = { x: at, w: x1 - at };
  return best;
}

/** Pixel spans of a piece list in a column. */
function spansOf(pieces: PieceList, col: ColumnBox, seq: number, out: [number, number][]): void {
  const k = col.w / seq;
  for (let i = 0; i < pieces.rects.length; i += 2) out.push([col.x + (pieces.rects[i] as number) * k, col.x + (pieces.rects[i + 1] as number) * k]);
}

export interface MotionView {
  /** Plans the step's motion and adds its transfer labels (once per step). */
  prepare(stepIndex: number, labels: Label[]): void;
  /** Moves the pieces to `progress` (0..1) of the step (every frame). */
  draw(progress: number): void;
  /** What was aggregated this step, for the caption ('' when everything is drawn). */
  readonly aggregateNote: string;
  invalidate(): void;
}

export function createMotion(ctx: SceneContext): MotionView {
  let plan: MotionPlan = { geos: [], top: 0, bottom: 0, omittedTransfers: 0, shownRanks: null };
  let lossTracks: readonly Track[] = [];
  let note = '';
  // Per step (cleared on relayout and schedule change): the plan, its labels and its note.
  const cache = new Map<number, { plan: MotionPlan; lossTracks: readonly Track[]; labels: Label[]; note: string }>();

  function prepare(stepIndex: number, labels: Label[]): void {
    const m = ctx.model;
    let hit = cache.get(stepIndex);
    if (!hit) {
      const out: Label[] = [];
      plan = planMotion(ctx, stepIndex);
      lossTracks = m ? lossTracksOf(m.schedule, stepIndex) : [];
      const text = m ? labelPlan(m, stepIndex, out) : '';
      hit = { plan, lossTracks, labels: out, note: text };
      cache.set(stepIndex, hit);
    }
    plan = hit.plan;
    lossTracks = hit.lossTracks;
    note = hit.note;
    for (const l of hit.labels) labels.push(l);
  }

  /** The transfer labels of the current plan (into `labels`) and the caption's note on what is aggregated. */
  function labelPlan(m: NonNullable<SceneContext['model']>, stepIndex: number, labels: Label[]): string {
    const L = ctx.layout;
    // Labels: one per destination lane and column, where lanes are tall enough; else representative lanes.
    const pitch = lanePitch(L);
    const every = Math.max(1, Math.ceil(15 / Math.max(1, pitch)));
    const labelled = transferLabels(plan.geos);
    let shownLabels = 0;
    const holdings = m.holdings[stepIndex] ?? [];
    // By destination rank, once (not a scan of every transfer per label: 4,032 at 64 ranks).
    const heldBy = new Map<number, typeof holdings>();
    for (const h of holdings) heldBy.set(h.rank, [...(heldBy.get(h.rank) ?? []), h]);
    const geosTo = new Map<number, MotionGeo[]>();
    for (const g of plan.geos) {
      const list = geosTo.get(g.tr.dst);
      if (list) list.push(g);
      else geosTo.set(g.tr.dst, [g]);
    }
    for (const tl of labelled) {
      if (tl.dst % every !== 0 && every > 1) continue;
      const lane = L.lanes[tl.dst];
      if (!lane) continue;
      // Beside the blocks, not over them: the widest stretch of the lane that nothing occupies at the end of the step.
      const occupied: [number, number][] = [];
      for (const h of heldBy.get(tl.dst) ?? []) if (h.column === tl.col.id) spansOf(piecesOf(h.tokens, m), tl.col, m.schedule.seq, occupied);
      for (const g of geosTo.get(tl.dst) ?? []) if (g.col === tl.col) spansOf(g.pieces, tl.col, m.schedule.seq, occupied);
      const gap = widestGap(tl.col.x + 2, tl.col.x + tl.col.w - 2, occupied);
      const free = fitText(tl.variants, gap.w - 4, 11);
      const cls = `ss-xfer ss-vm${tl.sum ? ' ss-sum' : ''}`;
      if (textWidth(free, 11) <= gap.w - 4) {
        labels.push({ text: free, x: gap.x + gap.w / 2, y: lane.y + lane.h / 2, align: 'c', cls, title: tl.tip });
        shownLabels++;
        continue;
      }
      // No free stretch (a striped comb, a full K/V): the short form over the blocks, on a backdrop, at the column's right.
      const w = tl.col.w - 6;
      const text = fitText(tl.variants.length > 2 ? tl.variants.slice(2) : tl.variants, Math.min(w, tl.col.w * 0.45), 11);
      if (textWidth(text, 11) > w) continue;
      labels.push({ text, x: tl.col.x + tl.col.w - 3, y: lane.y + lane.h / 2, align: 'r', cls, title: tl.tip, maxW: w });
      shownLabels++;
    }
    const dsts = new Set(labelled.map((l) => l.dst)).size;
    const parts: string[] = [];
    if (plan.shownRanks) parts.push(`showing transfers into ${plan.shownRanks.length} of ${m.schedule.ranks} ranks (${plan.omittedTransfers} more move the same way)`);
    if (labelled.length > shownLabels && shownLabels > 0) parts.push(`labels on every ${every === 2 ? '2nd' : `${every}th`} rank`);
    if (dsts > 0 && shownLabels === 0 && labelled.length > 0) parts.push('lanes too small for transfer labels');
    if (lossTracks.length) {
      const bytes = lossTracks.reduce((a, t) => a + t.bytes, 0) / lossTracks.length;
      parts.push(`all-reduce of (Σℓ, n): ${formatBytes(bytes)} per rank per hop`);
    }
    return parts.join('; ');
  }

  function draw(progress: number): void {
    const { fly, flyGrad, flyMark } = ctx.pools;
    fly.reset();
    flyGrad.reset();
    flyMark.reset();
    const m = ctx.model;
    if (!m) {
      fly.flush();
      flyGrad.flush();
      flyMark.flush();
      return;
    }
    const t = travel(progress);
    for (const tr of lossTracks) {
      const a = laneOf(ctx, tr.src);
      const b = laneOf(ctx, tr.dst);
      if (!a || !b) continue;
      const oc = column(ctx, 'o');
      const size = Math.max(5, Math.min(14, a.h * 0.8));
      const geo = { ya: { y: a.y + a.h / 2 - size / 2, h: size }, yb: { y: b.y + b.h / 2 - size / 2, h: size }, wrap: isWrap('all-reduce', tr.src, tr.dst, m.schedule.ranks) };
      for (const p of pieceAt(geo, t, plan.top, plan.bottom)) flyMark.push(oc.x + oc.w * 0.15 - size / 2, p.y, size, p.h, rankColor(tr.src));
    }
    const rim = ctx.palette.highlight;
    const seq = m.schedule.seq;
    for (const g of plan.geos) {
      const k = g.col.w / seq;
      const { rects, colors } = g.pieces;
      const pool = isGradient(g.tr.tensor) ? flyGrad : fly;
      const n = rects.length / 2;
      // A plain hop is one part (no allocation per frame); a wrap may be two.
      const parts = g.wrap || g.sum ? partsAt(g, progress, plan.top, plan.bottom) : null;
      const nParts = parts ? parts.length : 1;
      // A summed block keeps a bright rim once its partials have merged: the sum stays visible.
      const summed = g.sum !== null && progress >= 0.85;
      for (let q = 0; q < nParts; q++) {
        const part = parts?.[q];
        const y = part ? part.y : g.ya.y + (g.yb.y - g.ya.y) * t;
        const h = part ? part.h : g.ya.h + (g.yb.h - g.ya.h) * t;
        for (let i = 0; i < n; i++) {
          const t0 = rects[2 * i] as number;
          const x = g.col.x + t0 * k;
          const sw = ((rects[2 * i + 1] as number) - t0) * k;
          // A light rim so moving blocks stand out from held ones (inside the column).
          if (h >= 4 && sw >= 4 && (progress < 0.999 || summed)) pool.push(Math.max(g.col.x, x - 1), y - 1, Math.min(sw + 2, g.col.x + g.col.w - Math.max(g.col.x, x - 1)), h + 2, rim);
          if (pool.count >= pool.capacity) {
            pool.dropped++;
            continue;
          }
          const j = pool.count++;
          pool.setRect(j, x, y, Math.max(1, sw - (sw > 4 ? 1 : 0)), h);
          pool.setColor(j, colors[3 * i] as number, colors[3 * i + 1] as number, colors[3 * i + 2] as number);
        }
      }
    }
    fly.flush();
    flyGrad.flush();
    flyMark.flush();
  }

  return {
    prepare,
    draw,
    get aggregateNote() {
      return note;
    },
    invalidate() {
      cache.clear();
    },
  };
}
