// Canvas 2D drawing of the readout charts. Each function draws into a box of CSS pixels on a
// context that the caller has already scaled (devicePixelRatio on screen, 2× for the PNG), so
// the same code serves the page, the embed view and the exported image.

import type { Plan } from '../model/plan.ts';
import { formatBytes, formatRatio } from '../model/format.ts';
import type { MemoryData } from './readoutData.ts';
import { CATEGORY_COLOR, CATEGORY_LABEL, CATEGORY_ORDER, TIMELINE_COLOR, type ChartStyle } from './palette.ts';

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

function font(style: ChartStyle, px: number, weight = 400): string {
  return `${weight} ${px}px ${style.font}`;
}

/** Round GB ticks (1, 2, 5 × 10^k bytes) with at most `maxTicks` steps up to `top`. */
export function niceTicks(top: number, maxTicks = 4): number[] {
  if (!(top > 0)) return [0];
  const raw = top / maxTicks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= top + 1e-9 * top; v += step) ticks.push(v);
  return ticks;
}

function hatch(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, color: string, gap = 5): void {
  ctx.save();
  ctx.beginPath();
  ctx.rect(x, y, w, h);
  ctx.clip();
  hatchLines(ctx, { x, y, w, h }, color, gap);
  ctx.restore();
}

/** Diagonal lines over `box`, clipped by whatever clip the caller has set. */
function hatchLines(ctx: CanvasRenderingContext2D, box: Box, color: string, gap: number): void {
  const { x, y, w, h } = box;
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  for (let d = -h; d < w + h; d += gap) {
    ctx.moveTo(x + d, y + h);
    ctx.lineTo(x + d + h, y);
  }
  ctx.stroke();
}

export interface MemoryChartOptions {
  /** Draw the category legend inside the box (the page has a DOM legend instead). */
  readonly legend?: boolean;
  /** Font size of axis labels, CSS px. */
  readonly fontPx?: number;
  /** Compact: fewer labels (embed view). */
  readonly compact?: boolean;
}

/**
 * Stacked bars, one per rank, of the categories at the rank's peak; a ghost bar for the same model
 * without SP; a dashed line at the GPU's capacity; a tick on each bar at the playback step's
 * memory ("now"), so peak and per-step are told apart.
 */
export function drawMemoryChart(ctx: CanvasRenderingContext2D, data: MemoryData, box: Box, style: ChartStyle, options: MemoryChartOptions = {}): void {
  const fs = options.fontPx ?? 11;
  const legendH = options.legend ? Math.ceil(fs * 1.5) * 3 + 4 : 0;
  const top = Math.max(data.capacity, data.maxPeak, ...data.ranks.map((r) => r.now)) * 1.12;
  const ticks = niceTicks(top / 1e9, options.compact ? 2 : 4);
  ctx.font = font(style, fs);
  const axisW = Math.ceil(Math.max(...ticks.map((t) => ctx.measureText(gbTick(t)).width)) + 8);
  const bottomH = Math.ceil(fs * 1.6);
  const topPad = Math.ceil(fs * 1.4);
  const plot: Box = { x: box.x + axisW, y: box.y + topPad + legendH, w: box.w - axisW - 4, h: box.h - topPad - legendH - bottomH };
  if (plot.w < 20 || plot.h < 20) return;

  if (options.legend) drawMemoryLegend(ctx, { x: box.x, y: box.y, w: box.w, h: legendH }, style, fs);

  const yOf = (bytes: number): number => plot.y + plot.h - (Math.min(bytes, top) / top) * plot.h;

  // Grid and axis labels.
  ctx.font = font(style, fs);
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  for (const t of ticks) {
    const y = Math.round(yOf(t * 1e9)) + 0.5;
    ctx.strokeStyle = style.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(plot.x, y);
    ctx.lineTo(plot.x + plot.w, y);
    ctx.stroke();
    ctx.fillStyle = style.muted;
    ctx.fillText(gbTick(t), plot.x - 5, y);
  }

  // Slots: the ghost bar, a gap, then one per rank.
  const n = data.ranks.length;
  // The ghost bar stays wide enough to read when there are many ranks.
  const ghostSlots = n >= 16 ? 2.5 : 1;
  const slots = n + ghostSlots + 0.6;
  const slot = plot.w / slots;
  const barW = Math.max(1, Math.min(slot * 0.72, 44));
  const ghostW = Math.max(barW, Math.min(slot * ghostSlots * 0.72, 44));
  const xOfSlot = (i: number): number => plot.x + slot * i + (slot - barW) / 2;
  const rankSlot = (rank: number): number => rank + ghostSlots + 0.6;

  // Stacked bars: each category's segments go into one path, filled once (at 64 ranks a fill and a
  // style change per segment were ~1,000 canvas calls per redraw).
  const newPaths = (): Map<keyof MemoryData['baseline']['atPeak'], Path2D> => new Map(CATEGORY_ORDER.map((k) => [k, new Path2D()]));
  const addStack = (paths: ReturnType<typeof newPaths>, x: number, cats: MemoryData['baseline']['atPeak'], w: number): void => {
    let acc = 0;
    for (const k of CATEGORY_ORDER) {
      const v = cats[k];
      if (v <= 0) continue;
      const y0 = yOf(acc);
      const y1 = yOf(acc + v);
      acc += v;
      if (y0 - y1 >= 0.01) paths.get(k)?.rect(x, y1, w, y0 - y1);
    }
  };
  const fillStacks = (paths: ReturnType<typeof newPaths>, alpha: number): void => {
    ctx.globalAlpha = alpha;
    for (const [k, path] of paths) {
      ctx.fillStyle = CATEGORY_COLOR[k];
      ctx.fill(path);
    }
    ctx.globalAlpha = 1;
  };

  // Ghost bar: the same model without SP.
  {
    const x = plot.x + (slot * ghostSlots - ghostW) / 2;
    const ghost = newPaths();
    addStack(ghost, x, data.baseline.atPeak, ghostW);
    fillStacks(ghost, 0.28);
    const yTop = yOf(data.baseline.peak);
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = style.ghost;
    ctx.lineWidth = 1;
    ctx.strokeRect(Math.round(x) + 0.5, Math.round(yTop) + 0.5, Math.round(ghostW) - 1, Math.round(plot.y + plot.h - yTop) - 1);
    ctx.setLineDash([]);
    const clipped = data.baseline.peak > top;
    ctx.fillStyle = style.fg;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    ctx.font = font(style, fs, 600);
    const label = `${clipped ? '↑ ' : ''}no SP ${formatBytes(data.baseline.peak)}`;
    ctx.fillText(label, x, Math.max(box.y + legendH + fs + 1, yTop - 3));
  }

  // Rank bars, and a "now" tick on each: memory at the playback step, bright with a dark edge (drawn below).
  const bars = newPaths();
  const nowTicks = new Path2D();
  for (const r of data.ranks) {
    const x = xOfSlot(rankSlot(r.rank));
    addStack(bars, x, r.atPeak, barW);
    const yNow = Math.round(yOf(r.now)) + 0.5;
    nowTicks.moveTo(x - 2, yNow);
    nowTicks.lineTo(x + barW + 2, yNow);
  }
  fillStacks(bars, 1);
  for (const r of data.ranks) {
    if (!r.oom) continue;
    const yCap = yOf(data.capacity);
    const yPeak = yOf(r.peak);
    if (yCap - yPeak > 1) {
      ctx.globalAlpha = 0.55;
      hatch(ctx, xOfSlot(rankSlot(r.rank)), yPeak, barW, yCap - yPeak, style.plate, 6);
      ctx.globalAlpha = 1;
    }
  }
  ctx.strokeStyle = style.plate;
  ctx.lineWidth = 4;
  ctx.stroke(nowTicks);
  ctx.strokeStyle = style.fg;
  ctx.lineWidth = 2;
  ctx.stroke(nowTicks);

  // Capacity line.
  const yCap = Math.round(yOf(data.capacity)) + 0.5;
  ctx.strokeStyle = data.oom ? style.warn : style.fg;
  ctx.lineWidth = 1.5;
  ctx.setLineDash([6, 4]);
  ctx.beginPath();
  ctx.moveTo(plot.x, yCap);
  ctx.lineTo(plot.x + plot.w, yCap);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.font = font(style, fs, 600);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'bottom';
  const capLabel = `${data.oom ? '⚠ OOM: peak over ' : ''}${data.gpuName.split(' ')[0] ?? ''} capacity ${formatBytes(data.capacity)}`;
  const capW = ctx.measureText(capLabel).width;
  ctx.fillStyle = style.plate;
  ctx.fillRect(plot.x + plot.w - capW - 6, yCap - fs - 4, capW + 6, fs + 3);
  ctx.fillStyle = data.oom ? style.warn : style.fg;
  ctx.fillText(capLabel, plot.x + plot.w - 3, yCap - 2);

  // Rank labels along the bottom.
  ctx.font = font(style, fs);
  ctx.fillStyle = style.muted;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const every = Math.max(1, Math.ceil((fs * 2.4) / slot));
  for (const r of data.ranks) {
    if (r.rank % every !== 0 && r.rank !== n - 1) continue;
    if (r.rank === n - 1 && r.rank % every !== 0 && (n - 1) % every < every / 2) continue;
    ctx.fillText(String(r.rank), xOfSlot(rankSlot(r.rank)) + barW / 2, plot.y + plot.h + 3);
  }
  ctx.textAlign = 'left';
  if (!options.compact) ctx.fillText('rank', plot.x - axisW + 2, plot.y + plot.h + 3);
}

/** Axis label for a round number of GB: "0", "2.5 GB", "200 GB", "1.5 TB". */
export function gbTick(gbValue: number): string {
  if (gbValue === 0) return '0';
  const trim = (x: number): string => String(Number(x.toFixed(2)));
  return gbValue >= 1000 ? `${trim(gbValue / 1000)} TB` : `${trim(gbValue)} GB`;
}

export function drawMemoryLegend(ctx: CanvasRenderingContext2D, box: Box, style: ChartStyle, fs: number): void {
  ctx.font = font(style, fs);
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  let x = box.x;
  let y = box.y + fs * 0.75;
  const sw = fs * 0.9;
  for (const k of CATEGORY_ORDER) {
    const label = CATEGORY_LABEL[k];
    const w = sw + 4 + ctx.measureText(label).width + 10;
    if (x + w > box.x + box.w) {
      x = box.x;
      y += fs * 1.5;
    }
    ctx.fillStyle = CATEGORY_COLOR[k];
    ctx.fillRect(x, y - sw / 2, sw, sw);
    ctx.fillStyle = style.fg;
    ctx.fillText(label, x + sw + 4, y);
    x += w;
  }
  // Keys for the per-step tick and the ghost bar.
  const keys: [string, (x: number, y: number) => void][] = [
    [
      'now (this step)',
      (kx, ky) => {
        ctx.fillStyle = style.fg;
        ctx.fillRect(kx, ky - 1.5, sw, 3);
      },
    ],
    [
      'no SP (1 rank)',
      (kx, ky) => {
        ctx.setLineDash([2, 2]);
        ctx.strokeStyle = style.ghost;
        ctx.strokeRect(kx + 0.5, ky - sw / 2 + 0.5, sw - 1, sw - 1);
        ctx.setLineDash([]);
      },
    ],
  ];
  for (const [label, drawKey] of keys) {
    const w = sw + 4 + ctx.measureText(label).width + 10;
    if (x + w > box.x + box.w) {
      x = box.x;
      y += fs * 1.5;
    }
    drawKey(x, y);
    ctx.fillStyle = style.fg;
    ctx.fillText(label, x + sw + 4, y);
    x += w;
  }
}

/**
 * One row per rank, one column per schedule step (width = the step's wall time): compute, then
 * exposed communication (hatched), then idle; a thin bar below shows the rank's communication,
 * the part under compute hidden, the part past it exposed. This is the ring overlap condition.
 */
export function drawTimelineChart(ctx: CanvasRenderingContext2D, plan: Plan, step: number, box: Box, style: ChartStyle, fontPx = 11): void {
  const steps = plan.timeline.steps;
  const ranks = plan.params.ranks;
  const fs = fontPx;
  const axisW = Math.ceil(fs * 3.2);
  const headH = Math.ceil(fs * 1.5);
  const plot: Box = { x: box.x + axisW, y: box.y + headH, w: box.w - axisW - 2, h: box.h - headH - 2 };
  const total = steps.reduce((a, s) => a + s.wall, 0);
  if (!(total > 0) || plot.w < 20 || steps.length === 0) {
    ctx.fillStyle = style.muted;
    ctx.font = font(style, fs);
    ctx.textBaseline = 'middle';
    ctx.fillText('No timeline for this configuration.', box.x, box.y + box.h / 2);
    return;
  }
  const xOf = (t: number): number => plot.x + (t / total) * plot.w;
  const rowH = plot.h / ranks;
  const barH = Math.max(1, rowH * 0.62);
  const commH = Math.max(1, Math.min(rowH * 0.22, 4));

  let t0 = 0;
  let lastPhase = '';
  ctx.textBaseline = 'middle';
  const computePath = new Path2D();
  const exposedPath = new Path2D();
  const commPath = new Path2D();
  for (const [i, s] of steps.entries()) {
    const x0 = xOf(t0);
    const x1 = xOf(t0 + s.wall);
    if (i === step) {
      ctx.fillStyle = style.grid;
      ctx.fillRect(x0, plot.y, Math.max(1, x1 - x0), plot.h);
    }
    if (s.phase !== lastPhase) {
      ctx.strokeStyle = style.muted;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(Math.round(x0) + 0.5, box.y + 2);
      ctx.lineTo(Math.round(x0) + 0.5, plot.y + plot.h);
      ctx.stroke();
      if (s.phase !== 'loss') {
        ctx.fillStyle = style.muted;
        ctx.font = font(style, fs);
        ctx.textAlign = 'left';
        ctx.fillText(s.phase, x0 + 3, box.y + headH / 2);
      }
      lastPhase = s.phase;
    }
    for (let r = 0; r < ranks; r++) {
      const pr = s.perRank[r];
      if (!pr) continue;
      const y = plot.y + r * rowH + (rowH - barH - commH) / 2;
      const xc = xOf(t0 + pr.compute);
      computePath.rect(x0, y, Math.max(0, xc - x0), barH);
      const xe = xOf(t0 + pr.compute + pr.exposed);
      if (xe - xc > 0.3) exposedPath.rect(xc, y, xe - xc, barH);
      const hidden = Math.max(0, pr.comm - pr.exposed);
      if (pr.comm > 0) {
        commPath.rect(x0, y + barH, Math.max(0.5, xOf(t0 + Math.min(hidden, pr.compute)) - x0), commH);
        if (xe - xc > 0.3) commPath.rect(xc, y + barH, xe - xc, commH);
      }
    }
    t0 += s.wall;
  }
  // One fill per colour: at 64 ranks × 131 steps the cells are ~25k rectangles, and a fill (or a
  // clipped hatch) per rectangle cost ~100 ms per redraw; one path per colour costs a few ms.
  ctx.fillStyle = TIMELINE_COLOR.compute;
  ctx.fill(computePath);
  ctx.fillStyle = TIMELINE_COLOR.exposed;
  ctx.globalAlpha = 0.35;
  ctx.fill(exposedPath);
  ctx.globalAlpha = 1;
  ctx.save();
  ctx.clip(exposedPath);
  hatchLines(ctx, plot, TIMELINE_COLOR.exposed, 4);
  ctx.restore();
  ctx.fillStyle = TIMELINE_COLOR.comm;
  ctx.fill(commPath);
  // Rank labels.
  ctx.fillStyle = style.muted;
  ctx.font = font(style, fs);
  ctx.textAlign = 'right';
  const every = Math.max(1, Math.ceil((fs * 1.2) / rowH));
  for (let r = 0; r < ranks; r += every) ctx.fillText(`r${r}`, plot.x - 4, plot.y + r * rowH + rowH / 2);
}

/** Causal attention FLOPs per rank as bars, with the mean as a dashed line and the max/mean ratio. */
export function drawBalanceChart(ctx: CanvasRenderingContext2D, plan: Plan, box: Box, style: ChartStyle, fontPx = 11): void {
  const f = plan.balance.perRankFlops;
  const fs = fontPx;
  if (f.length === 0) return;
  const max = Math.max(...f);
  const mean = f.reduce((a, x) => a + x, 0) / f.length;
  const plot: Box = { x: box.x + 2, y: box.y + fs * 1.4, w: box.w - 4, h: box.h - fs * 1.4 - 2 };
  const slot = plot.w / f.length;
  const barW = Math.max(1, Math.min(slot * 0.72, 40));
  const yOf = (v: number): number => plot.y + plot.h - (max > 0 ? v / max : 0) * plot.h;
  f.forEach((v, i) => {
    const x = plot.x + i * slot + (slot - barW) / 2;
    ctx.fillStyle = v === max && max > mean * 1.02 ? TIMELINE_COLOR.exposed : TIMELINE_COLOR.compute;
    ctx.fillRect(x, yOf(v), barW, plot.y + plot.h - yOf(v));
  });
  const yMean = Math.round(yOf(mean)) + 0.5;
  ctx.strokeStyle = style.fg;
  ctx.setLineDash([5, 3]);
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  ctx.moveTo(plot.x, yMean);
  ctx.lineTo(plot.x + plot.w, yMean);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.font = font(style, fs);
  ctx.fillStyle = style.muted;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText(`max/mean ${formatRatio(plan.balance.maxOverMean)} · dashed line: mean`, box.x + 2, box.y + fs * 0.7);
}

type Surface = HTMLCanvasElement | OffscreenCanvas;

/** Each chart's drawing surface off the document (see drawChart). */
const surfaceOf = new WeakMap<HTMLCanvasElement, Surface>();

/**
 * Draws a chart of cssW × cssH CSS px at `scale` device px per px onto `canvas`, its backing store
 * sized to match; `draw` gets a context in CSS px. Returns whether it drew.
 *
 * `draw` paints a canvas outside the document, copied onto `canvas` at the end. Each `ctx.font` on
 * a canvas in the document makes Chromium bring the page's style up to date first, which is a
 * forced style and layout whenever the readouts or the comparison table have just changed: 2–14 ms
 * per redraw, measured at 64 ranks. Off the document, fonts resolve without the page. The copy is
 * not free: ~0.4 ms of main thread per redraw of the 328×200 memory chart in the app on SwiftShader,
 * a quarter less from an OffscreenCanvas than from a detached canvas element. It buys the tail: the
 * charts' p95 per change fell from 5–9 ms to 2–4 ms.
 */
export function drawChart(canvas: HTMLCanvasElement, cssW: number, cssH: number, scale: number, draw: (ctx: CanvasRenderingContext2D) => void): boolean {
  // The height is written only when it changes: a write dirties the page's style too.
  const height = `${cssH}px`;
  if (canvas.style.height !== height) canvas.style.height = height;
  const w = Math.max(1, Math.round(cssW * scale));
  const h = Math.max(1, Math.round(cssH * scale));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  let surface = surfaceOf.get(canvas);
  if (!surface) {
    surface = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(w, h) : document.createElement('canvas');
    surfaceOf.set(canvas, surface);
  }
  if (surface.width !== w) surface.width = w;
  if (surface.height !== h) surface.height = h;
  // CPU-backed canvases (Chrome keeps `willReadFrequently` canvases off the GPU). A GPU-backed one
  // makes a redraw wait for the GPU process whenever it is busy: 200–400 ms of main thread per
  // chart measured on a software GPU during a slider drag, for charts a few hundred pixels wide.
  // The charts draw with the 2D API both contexts share.
  const paint = surface.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D | null;
  const shown = canvas.getContext('2d', { willReadFrequently: true });
  if (!paint || !shown) return false;
  paint.setTransform(scale, 0, 0, scale, 0, 0);
  paint.clearRect(0, 0, cssW, cssH);
  draw(paint);
  // 'copy' replaces the pixels outright: no clear, no blending.
  shown.setTransform(1, 0, 0, 1, 0, 0);
  shown.globalCompositeOperation = 'copy';
  shown.drawImage(surface, 0, 0);
  return true;
}
