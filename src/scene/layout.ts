// The scene's 2D layout in CSS pixels of the stage (origin top-left, y down). Pure, so the
// framing for 1..64 ranks and both slide sizes is unit-tested. The orthographic camera maps
// these pixels 1:1, so DOM labels placed at the same coordinates line up with the blocks.

import type { HeadRange, Segment } from '../model/schedule.ts';
import type { ColumnId } from './tracks.ts';

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

export interface LaneBox extends Rect {
  readonly rank: number;
  readonly group: number;
}

export interface GroupBox {
  readonly group: number;
  readonly y: number;
  readonly h: number;
}

export interface ColumnBox {
  readonly id: ColumnId;
  readonly x: number;
  readonly w: number;
}

export interface SceneLayout {
  readonly width: number;
  readonly height: number;
  /** Narrow stage: matrix and panel under the lanes rather than beside them. */
  readonly stacked: boolean;
  /** Short stage: matrix+bars and the panel side by side, right of the lanes. */
  readonly wide: boolean;
  /** DOM title row. */
  readonly header: Rect;
  /** DOM caption and controls. */
  readonly footer: Rect;
  /** Where the lane labels ("rank 3") go. */
  readonly labels: Rect;
  readonly lanes: readonly LaneBox[];
  readonly groups: readonly GroupBox[];
  readonly columns: readonly ColumnBox[];
  /** Row of column titles above the lanes. */
  readonly columnTitles: Rect;
  /** Colour legend (token ramp) under the lanes. */
  readonly legend: Rect;
  /** The causal work matrix (square). */
  readonly matrix: Rect;
  /** Per-rank work bars under the matrix. */
  readonly bars: Rect;
  /** DOM panel for the softmax merge or the loss. */
  readonly panel: Rect;
  /** Label every k-th lane so that labels are at least ~12 px apart. */
  readonly labelEvery: number;
}

export const HEADER_H = 30;
export const FOOTER_H = 86;
const BASE_HEADER_H = HEADER_H;
const MARGIN = 8;
const BASE_TITLE_H = 18;
const BASE_LEGEND_H = 24;
const GROUP_GAP = 6;
const BASE_LABEL_MIN_SPACING = 13;
/** Below this stage width the matrix and the panel go under the lanes instead of beside them. */
export const STACK_BELOW = 720;

export interface LayoutOptions {
  /** Height of the caption + controls footer (taller when the captions wrap on a narrow stage). */
  readonly footerH?: number;
  /** Type scale of the overlay: rows of text (header, titles, legend, lane labels) grow with it. */
  readonly textScale?: number;
  /** False: no softmax/loss panel (a small slide); the matrix and bars take the right column. */
  readonly panel?: boolean;
}

export function computeLayout(width: number, height: number, groupOfRank: readonly number[], options: LayoutOptions = {}): SceneLayout {
  const w = Math.max(320, width);
  const h = Math.max(240, height);
  const ranks = Math.max(1, groupOfRank.length);
  const k = Math.max(1, options.textScale ?? 1);
  const withPanel = options.panel ?? true;
  const HEADER_H = Math.round(BASE_HEADER_H * k);
  const TITLE_H = Math.round(BASE_TITLE_H * k);
  const LEGEND_H = Math.round(BASE_LEGEND_H * k);
  const LABEL_MIN_SPACING = BASE_LABEL_MIN_SPACING * k;
  const footerH = Math.max(FOOTER_H - 20, Math.min(h * 0.4, options.footerH ?? FOOTER_H));
  const header: Rect = { x: 0, y: 0, w, h: HEADER_H };
  const footer: Rect = { x: 0, y: h - footerH, w, h: footerH };
  const top = HEADER_H + 4;
  const bottom = h - footerH - 4;
  const midH = bottom - top;
  const stacked = w < STACK_BELOW && withPanel;
  // Short, wide stage (an embed): the right column cannot hold matrix, bars and panel one above
  // the other, so matrix+bars and the panel become two columns beside the lanes.
  const wide = !stacked && midH < 420 && withPanel;
  const wideBarsH = Math.max(18, Math.min(32, midH * 0.1));
  const wideSide = Math.max(48, Math.min(w * 0.22, midH - TITLE_H - 16 * k - wideBarsH - 4));
  const widePanelW = Math.round(Math.min(460, Math.max(240, w * 0.3)));

  const rightW = stacked ? 0 : wide ? widePanelW + 14 + wideSide + 18 : withPanel ? Math.round(Math.min(560, Math.max(200, w * 0.34))) : Math.round(Math.min(midH - TITLE_H, Math.max(160, w * 0.3)));
  const rightX = w - MARGIN - rightW;
  const labelW = Math.round((w >= 1100 ? 70 : w >= 480 ? 58 : 50) * k);
  let groupCount = 0;
  for (let r = 0; r < ranks; r++) if (r === 0 || groupOfRank[r] !== groupOfRank[r - 1]) groupCount++;
  // A narrow column for the (rotated) group names when there is more than one group.
  const groupCol = groupCount > 1 ? 16 : 0;
  const lanesX = MARGIN + groupCol + labelW;
  const lanesW = stacked ? w - MARGIN - lanesX : rightX - 14 - lanesX;
  // Stacked: the lanes take the top half of the middle, the matrix and the panel share the rest.
  const lanesAreaBottom = stacked ? top + Math.round(midH * 0.5) : bottom;

  const titles: Rect = { x: lanesX, y: top, w: lanesW, h: TITLE_H };
  const lanesTop = top + TITLE_H;
  const lanesBottom = lanesAreaBottom - LEGEND_H;
  const legend: Rect = { x: lanesX, y: lanesBottom + 4, w: lanesW, h: LEGEND_H - 6 };

  // Groups (nodes, or Ulysses groups for the hybrid): a gap between consecutive groups.
  const groupIds: number[] = [];
  for (let r = 0; r < ranks; r++) {
    const g = groupOfRank[r] ?? 0;
    if (groupIds[groupIds.length - 1] !== g) groupIds.push(g);
  }
  const gaps = Math.max(0, groupIds.length - 1);
  const groupGap = gaps > 0 ? Math.min(GROUP_GAP, (lanesBottom - lanesTop) * 0.15 / gaps) : 0;
  const pitch = (lanesBottom - lanesTop - gaps * groupGap) / ranks;
  const laneGap = Math.min(4, pitch * 0.18);
  const lanes: LaneBox[] = [];
  const groups: GroupBox[] = [];
  let y = lanesTop;
  let gi = -1;
  for (let r = 0; r < ranks; r++) {
    const g = groupOfRank[r] ?? 0;
    if (r > 0 && g !== (groupOfRank[r - 1] ?? 0)) y += groupGap;
    if (gi < 0 || groups[gi]?.group !== g || r === 0 || g !== (groupOfRank[r - 1] ?? 0)) {
      groups.push({ group: g, y, h: 0 });
      gi = groups.length - 1;
    }
    lanes.push({ rank: r, group: g, x: lanesX, y: y + laneGap / 2, w: lanesW, h: pitch - laneGap });
    y += pitch;
    const box = groups[gi] as GroupBox;
    groups[gi] = { ...box, h: y - box.y };
  }

  const colGap = Math.min(14, lanesW * 0.03);
  const colW = (lanesW - 2 * colGap) / 3;
  const columns: ColumnBox[] = (['q', 'kv', 'o'] as const).map((id, i) => ({ id, x: lanesX + i * (colW + colGap), w: colW }));

  let matrix: Rect;
  let bars: Rect;
  let panel: Rect;
  const axisPad = 18;
  if (wide) {
    const px = w - MARGIN - widePanelW;
    matrix = { x: px - 14 - wideSide, y: top + TITLE_H, w: wideSide, h: wideSide };
    bars = { x: matrix.x, y: matrix.y + wideSide + 16 * k, w: wideSide, h: wideBarsH };
    panel = { x: px, y: top, w: widePanelW, h: Math.max(40, bottom - top) };
  } else if (!stacked) {
    // Right: matrix on top (square, with room for axis labels), bars, then the DOM panel.
    const barsH = Math.max(24, Math.min(44, midH * 0.1));
    const gap = 16 * k;
    // Leave the panel at least ~160 px (when there is one).
    const side = Math.max(60, Math.min(rightW - axisPad - 4, withPanel ? midH * 0.55 : midH, midH - TITLE_H - 2 * gap - barsH - (withPanel ? 160 : 48 * k)));
    matrix = { x: rightX + axisPad, y: top + TITLE_H, w: side, h: side };
    bars = { x: rightX + axisPad, y: matrix.y + side + gap, w: withPanel ? rightW - axisPad : side, h: barsH };
    const panelY = bars.y + barsH + gap;
    panel = withPanel ? { x: rightX, y: panelY, w: rightW, h: Math.max(40, bottom - panelY) } : { x: w, y: top, w: 0, h: 0 };
  } else {
    // Under the lanes: the matrix (title above, bars below) on the left, the panel on its right.
    const y0 = lanesAreaBottom + 6;
    const barsH = Math.max(16, Math.min(32, (bottom - y0) * 0.12));
    const side = Math.max(48, Math.min((w - 2 * MARGIN) * 0.42, bottom - y0 - TITLE_H - 16 * k - barsH - 2));
    matrix = { x: MARGIN + axisPad - 4, y: y0 + TITLE_H, w: side, h: side };
    bars = { x: matrix.x, y: matrix.y + side + 16 * k, w: side, h: barsH };
    const px = matrix.x + side + 14;
    panel = { x: px, y: y0, w: Math.max(60, w - MARGIN - px), h: Math.max(40, bottom - y0) };
  }

  const labelEvery = pitch >= LABEL_MIN_SPACING ? 1 : niceStep(Math.ceil(LABEL_MIN_SPACING / Math.max(0.5, pitch)));
  return { width: w, height: h, stacked, wide, header, footer, labels: { x: MARGIN + groupCol, y: lanesTop, w: labelW - 4, h: lanesBottom - lanesTop }, lanes, groups, columns, columnTitles: titles, legend, matrix, bars, panel, labelEvery };
}

function niceStep(n: number): number {
  for (const s of [1, 2, 4, 8, 16, 32, 64]) if (s >= n) return s;
  return 64;
}

/** Upper bound on blocks drawn in the lanes, across all ranks and columns. */
export const LANE_BLOCK_BUDGET = 6000;

/**
 * Display block size in tokens: a power of two, so the label reads "1 block = 4,096 tokens".
 * Chosen so that the three columns of P lanes, each holding up to the whole sequence, stay
 * within LANE_BLOCK_BUDGET; never finer than one token, never coarser than needed.
 */
export function displayBlockTokens(seq: number, ranks: number): number {
  const perAxis = Math.max(8, Math.min(128, Math.floor(LANE_BLOCK_BUDGET / (3 * Math.max(1, ranks)))));
  const raw = Math.max(1, seq / perAxis);
  return 2 ** Math.ceil(Math.log2(raw));
}

/** A drawn piece of a token set, in token coordinates [t0, t1), coloured at `mid`. */
export interface Piece {
  readonly t0: number;
  readonly t1: number;
  readonly mid: number;
}

/**
 * Splits a segment into drawn pieces of at most `block` tokens (aligned to block boundaries).
 * A strided segment (striped layout) becomes a comb: one tooth per block-sized cell of its span,
 * placed at the segment's residue within the stride, 1/stride of the cell wide.
 * At most `cap` pieces per segment; beyond it the pieces grow (never per token).
 */
export function segmentPieces(seg: Segment, block: number, cap = 256): Piece[] {
  const out: Piece[] = [];
  if (seg.count <= 0) return out;
  if (seg.stride <= 1 || seg.count === 1) {
    const a = seg.start;
    const b = seg.start + seg.count;
    let size = block;
    while ((b - a) / size > cap) size *= 2;
    let t = a;
    while (t < b) {
      const next = Math.min(b, (Math.floor(t / size) + 1) * size);
      out.push({ t0: t, t1: next, mid: (t + next) / 2 });
      t = next;
    }
    return out;
  }
  const stride = seg.stride;
  const first = seg.start;
  const end = seg.start + (seg.count - 1) * stride + 1;
  let cell = Math.max(block, stride);
  cell = Math.ceil(cell / stride) * stride;
  while ((end - first) / cell > cap) cell *= 2;
  const residue = ((first % stride) + stride) % stride;
  const base = first - residue;
  for (let c = base; c < end; c += cell) {
    const t0 = c + (residue / stride) * cell;
    // The last tooth stops at the segment end (never past the sequence: it would leave its column).
    const t1 = Math.min(end, t0 + cell / stride);
    if (t1 <= first || t0 >= end) continue;
    out.push({ t0, t1, mid: Math.min(end - 1, c + cell / 2) });
  }
  return out;
}

/** x range of a token range in a column. */
export function tokenSpan(column: ColumnBox, seq: number, t0: number, t1: number): { x: number; w: number } {
  const x = column.x + (t0 / seq) * column.w;
  const w = ((t1 - t0) / seq) * column.w;
  return { x, w };
}

/**
 * y range of a head range inside a lane. `scale` is the byte ratio of this tensor to the largest
 * tensor in the lane (K,V vs Q under GQA), so the block's area stays proportional to its bytes.
 */
export function headSpan(lane: Rect, heads: HeadRange, totalHeads: number, scale: number): { y: number; h: number } {
  const pad = Math.min(2, lane.h * 0.08);
  const inner = Math.max(1, lane.h - 2 * pad) * scale;
  const top = lane.y + pad + (lane.h - 2 * pad - inner);
  const y = top + (heads.start / totalHeads) * inner;
  const h = ((heads.end - heads.start) / totalHeads) * inner;
  return { y, h };
}

/**
 * Heights of the Q/O blocks and of the K,V block relative to the lane: K and V together carry
 * 2·kvHeads/heads of the bytes of Q. The larger one fills the lane.
 */
export function tensorScales(heads: number, kvHeads: number): { q: number; kv: number } {
  const kvRatio = (2 * kvHeads) / heads;
  const big = Math.max(1, kvRatio);
  return { q: 1 / big, kv: kvRatio / big };
}

/** Matrix resolution: cells per axis, aligned to the 2P chunks when that fits. */
export function matrixCells(seq: number, ranks: number): number {
  const chunks = 2 * ranks;
  let n = chunks <= 48 ? Math.floor(48 / chunks) * chunks : 64;
  if (n < 8) n = 8;
  return Math.max(1, Math.min(seq, n));
}

/** 131072 → "131,072" (en-US grouping; toLocaleString is slow enough to show in the step bench). */
export function formatTokens(n: number): string {
  const v = Math.round(n);
  if (!Number.isFinite(v)) return String(v);
  const neg = v < 0;
  let s = String(Math.abs(v));
  for (let i = s.length - 3; i > 0; i -= 3) s = `${s.slice(0, i)},${s.slice(i)}`;
  return neg ? `-${s}` : s;
}
