// Peak memory per rank against sequence length (log x, 1K..10M): one line per strategy, the
// GPU's capacity, the same model without SP, the current length, and where each strategy's
// longest fitting context crosses the capacity. Or, stacked, the current strategy's categories.
// Canvas 2D into a box of CSS px (the caller scales for devicePixelRatio or the PNG).

import type { MemoryCategories } from '../model/plan.ts';
import type { StrategyId } from '../model/params.ts';
import { formatBytes, formatTokens } from '../model/format.ts';
import type { Box } from './charts.ts';
import { gbTick, niceTicks } from './charts.ts';
import { CATEGORY_COLOR, CATEGORY_ORDER, OKABE_ITO, type ChartStyle } from './palette.ts';

/** Line colour and dash per strategy: colour-blind-safe hues, and dashes so coinciding lines stay countable. */
export const STRATEGY_STYLE: Record<StrategyId, { color: string; dash: number[]; short: string }> = {
  allgather: { color: OKABE_ITO.vermillion, dash: [], short: 'all-gather' },
  ring: { color: OKABE_ITO.blue, dash: [], short: 'ring' },
  zigzag: { color: OKABE_ITO.sky, dash: [6, 3], short: 'zigzag' },
  striped: { color: OKABE_ITO.green, dash: [2, 3], short: 'striped' },
  ulysses: { color: OKABE_ITO.purple, dash: [8, 3, 2, 3], short: 'Ulysses' },
  'megatron-sp': { color: OKABE_ITO.orange, dash: [], short: 'Megatron SP' },
  usp: { color: '#8c8c8c', dash: [4, 2], short: 'USP' },
};

export interface SeqPoint {
  readonly seq: number;
  readonly peak: number;
}

export interface SeqPlotLine {
  readonly id: StrategyId;
  readonly points: readonly SeqPoint[];
  /** Longest fitting sequence (null: cannot run or unknown yet; 0: nothing fits). */
  readonly maxSeq: number | null;
  readonly current: boolean;
}

export interface SeqPlotData {
  readonly lines: readonly SeqPlotLine[];
  readonly baseline: readonly SeqPoint[];
  readonly capacity: number;
  readonly currentSeq: number;
  readonly minSeq: number;
  readonly maxSeqAxis: number;
  /** Stacked mode: the current strategy's categories at each length (they sum to its peak). */
  readonly stacked: { readonly id: StrategyId; readonly points: readonly { seq: number; atPeak: MemoryCategories }[] } | null;
}

export interface SeqPlotOptions {
  readonly fontPx?: number;
}

function font(style: ChartStyle, px: number, weight = 400): string {
  return `${weight} ${px}px ${style.font}`;
}

/** Top of the y axis: room above the capacity, unless even the smallest length is far over it. */
export function seqPlotTop(data: SeqPlotData): number {
  const firsts = [...data.lines.map((l) => l.points[0]?.peak ?? 0), ...(data.stacked ? [] : [])].filter((x) => x > 0);
  const lowest = firsts.length ? Math.min(...firsts) : 0;
  return Math.max(data.capacity * 1.6, lowest * 1.25);
}

/** Axis label for a token count on the log axis. */
function seqTick(n: number): string {
  return formatTokens(n);
}

export function drawSeqPlot(ctx: CanvasRenderingContext2D, data: SeqPlotData, box: Box, style: ChartStyle, options: SeqPlotOptions = {}): void {
  const fs = options.fontPx ?? 11;
  const top = seqPlotTop(data);
  const ticks = niceTicks(top / 1e9, box.h < 160 ? 3 : 5);
  ctx.font = font(style, fs);
  const axisW = Math.ceil(Math.max(...ticks.map((t) => ctx.measureText(gbTick(t)).width)) + 8);
  const labelH = Math.ceil(fs * 1.5);
  const plot: Box = { x: box.x + axisW, y: box.y + labelH * 2 + 2, w: Math.max(10, box.w - axisW - 6), h: Math.max(10, box.h - labelH * 3 - 4) };
  const lx0 = Math.log(data.minSeq);
  const lx1 = Math.log(data.maxSeqAxis);
  const xOf = (seq: number): number => plot.x + ((Math.log(Math.min(data.maxSeqAxis, Math.max(data.minSeq, seq))) - lx0) / (lx1 - lx0)) * plot.w;
  const yTop = (ticks[ticks.length - 1] ?? top / 1e9) * 1e9;
  const yOf = (bytes: number): number => plot.y + plot.h - (bytes / yTop) * plot.h;

  // Grid and axes.
  ctx.strokeStyle = style.grid;
  ctx.lineWidth = 1;
  ctx.fillStyle = style.muted;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of ticks) {
    const y = Math.round(yOf(t * 1e9)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.x, y);
    ctx.lineTo(plot.x + plot.w, y);
    ctx.stroke();
    ctx.fillText(gbTick(t), plot.x - 4, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  // Powers of 4 from 1K; skip labels that would collide.
  let lastRight = -Infinity;
  for (let s = 1024; s <= data.maxSeqAxis; s *= 4) {
    const x = Math.round(xOf(s)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, plot.y);
    ctx.lineTo(x, plot.y + plot.h);
    ctx.stroke();
    const label = seqTick(s);
    const w = ctx.measureText(label).width;
    if (x - w / 2 > lastRight + 6 && x + w / 2 <= box.x + box.w) {
      ctx.fillText(label, x, plot.y + plot.h + 3);
      lastRight = x + w / 2;
    }
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.x, plot.y - 1, plot.w, plot.h + 1);
  ctx.clip();

  const path = (points: readonly SeqPoint[]): void => {
    ctx.beginPath();
    points.forEach((p, i) => (i === 0 ? ctx.moveTo(xOf(p.seq), yOf(p.peak)) : ctx.lineTo(xOf(p.seq), yOf(p.peak))));
  };

  if (data.stacked) {
    // Stacked areas, bottom to top in the readout's category order.
    const pts = data.stacked.points;
    const below = pts.map(() => 0);
    for (const cat of CATEGORY_ORDER) {
      const above = pts.map((p, i) => (below[i] ?? 0) + p.atPeak[cat]);
      if (above.every((v, i) => v - (below[i] ?? 0) <= 0)) continue;
      ctx.beginPath();
      pts.forEach((p, i) => (i === 0 ? ctx.moveTo(xOf(p.seq), yOf(above[i] ?? 0)) : ctx.lineTo(xOf(p.seq), yOf(above[i] ?? 0))));
      for (let i = pts.length - 1; i >= 0; i--) ctx.lineTo(xOf((pts[i] as { seq: number }).seq), yOf(below[i] ?? 0));
      ctx.closePath();
      ctx.fillStyle = CATEGORY_COLOR[cat];
      ctx.globalAlpha = 0.85;
      ctx.fill();
      ctx.globalAlpha = 1;
      for (let i = 0; i < pts.length; i++) below[i] = above[i] ?? 0;
    }
  }

  // No-SP line.
  if (data.baseline.length > 1) {
    ctx.setLineDash([2, 4]);
    ctx.strokeStyle = style.ghost;
    ctx.lineWidth = 1.5;
    path(data.baseline);
    ctx.stroke();
  }
  // One line per strategy (the current one last and thicker); in stacked mode only the current one's outline.
  const ordered = [...data.lines.filter((l) => !l.current), ...data.lines.filter((l) => l.current)];
  for (const line of ordered) {
    if (line.points.length < 2 || (data.stacked && !line.current)) continue;
    const s = STRATEGY_STYLE[line.id];
    ctx.setLineDash(s.dash);
    ctx.strokeStyle = data.stacked ? style.fg : s.color;
    ctx.lineWidth = line.current ? 3 : 1.6;
    path(line.points);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.restore();

  // Capacity.
  const capY = Math.round(yOf(data.capacity)) + 0.5;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = style.warn;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(plot.x, capY);
  ctx.lineTo(plot.x + plot.w, capY);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = style.warn;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'bottom';
  ctx.fillText(`GPU ${formatBytes(data.capacity)}`, plot.x + 3, capY - 2);

  // Current sequence length.
  const cx = Math.round(xOf(data.currentSeq)) + 0.5;
  ctx.strokeStyle = style.fg;
  ctx.lineWidth = 1;
  ctx.setLineDash([3, 3]);
  ctx.beginPath();
  ctx.moveTo(cx, plot.y);
  ctx.lineTo(cx, plot.y + plot.h);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = style.fg;
  ctx.textBaseline = 'bottom';
  const nowLabel = `now ${formatTokens(data.currentSeq)}`;
  const nowW = ctx.measureText(nowLabel).width;
  ctx.textAlign = cx + nowW + 4 > box.x + box.w ? 'right' : 'left';
  ctx.fillText(nowLabel, ctx.textAlign === 'right' ? cx - 3 : cx + 3, plot.y - 2);

  // Longest fit: a marker on the capacity line per distinct length, labelled with its strategies.
  // Lengths that print the same share one marker (2.7M for ring and USP, a few tokens apart).
  const groups = new Map<string, { seq: number; ids: StrategyId[] }>();
  for (const line of data.lines) {
    if (line.maxSeq === null || (data.stacked && !line.current)) continue;
    const key = formatTokens(line.maxSeq);
    const g = groups.get(key);
    if (g) g.ids.push(line.id);
    else groups.set(key, { seq: line.maxSeq, ids: [line.id] });
  }
  const markers = [...groups.values()].map((g) => [g.seq, g.ids] as const).sort((a, b) => a[0] - b[0]);
  const rowsUsed: number[] = [];
  ctx.font = font(style, fs - 1);
  for (const [seq, ids] of markers) {
    const inRange = seq >= data.minSeq && seq <= data.maxSeqAxis;
    const x = xOf(Math.max(1, seq));
    ctx.fillStyle = style.fg;
    ctx.beginPath();
    ctx.moveTo(x, capY);
    ctx.lineTo(x - 4, capY - 7);
    ctx.lineTo(x + 4, capY - 7);
    ctx.closePath();
    ctx.fill();
    for (const [k, id] of ids.entries()) {
      ctx.fillStyle = STRATEGY_STYLE[id].color;
      ctx.fillRect(x - 4 + k * 3, capY + 2, 3, 4);
    }
    const names = ids.length === data.lines.filter((l) => l.maxSeq !== null).length && ids.length > 1 ? 'all' : ids.map((id) => STRATEGY_STYLE[id].short).join(', ');
    const text = `${seq === 0 ? 'none fit' : `${inRange ? '' : seq > data.maxSeqAxis ? '› ' : '‹ '}${formatTokens(seq)}`}: ${names}`;
    const w = ctx.measureText(text).width;
    let lx = Math.min(box.x + box.w - w - 2, Math.max(plot.x + 2, x - w / 2));
    // Label rows under the capacity line, first row free of overlap.
    let row = 0;
    while ((rowsUsed[row] ?? -Infinity) > lx - 6 && row < 4) row++;
    rowsUsed[row] = lx + w;
    const ly = capY + 8 + row * (fs + 2);
    ctx.fillStyle = style.plate;
    ctx.fillRect(lx - 2, ly - 1, w + 4, fs + 1);
    ctx.fillStyle = style.fg;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(text, lx, ly);
    lx += 0;
  }

  // Axis titles.
  ctx.font = font(style, fs);
  ctx.fillStyle = style.muted;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(data.stacked ? 'peak per rank by category' : 'peak per rank', box.x, box.y);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'bottom';
  ctx.fillText('tokens (log)', box.x + box.w, box.y + box.h);
}
