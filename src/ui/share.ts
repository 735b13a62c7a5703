// Sharing: the iframe snippet for the current state, and the PNG of the current frame with the
// readouts drawn over it at 2×.

import { comparisonBandHeight, drawComparisonBand, type ComparisonPng } from './compareExport.ts';
import type { Params } from '../model/params.ts';
import { MODEL_PRESETS } from '../model/params.ts';
import { STRATEGIES } from '../model/strategies/index.ts';
import { countOf, formatBytes, formatTokens } from '../model/format.ts';
import { serializeUrlState, type Theme, type ViewState } from './urlState.ts';
import { drawMemoryChart, type Box } from './charts.ts';
import type { MemoryData } from './readoutData.ts';
import { chartStyle } from './palette.ts';

/** Escapes text for an HTML attribute value in double quotes. */
export function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function describeState(params: Params): string {
  const model = MODEL_PRESETS.find((m) => m.id === params.model)?.name ?? 'custom model';
  return `${STRATEGIES[params.strategy].name}, ${formatTokens(params.seq)} tokens on ${countOf(params.ranks, 'rank')}, ${model}`;
}

/** The page's URL with `?embed=1` and the state in the hash. `base` is origin + path of the app. */
export function embedUrl(base: string, params: Params, view: ViewState): string {
  const hash = serializeUrlState(params, { ...view, embed: false, panel: false }, ['embed']);
  return `${base}?embed=1#${hash}`;
}

/** An <iframe> for slides: 16:9, borderless, scaling down with its container. */
export function embedSnippet(base: string, params: Params, view: ViewState): string {
  const src = embedUrl(base, params, view);
  const title = `Shardscope: ${describeState(params)}`;
  return (
    `<iframe src="${escapeAttribute(src)}" title="${escapeAttribute(title)}" width="960" height="540" ` +
    `style="border:0;width:100%;max-width:960px;aspect-ratio:16/9;height:auto" loading="lazy" allow="fullscreen"></iframe>`
  );
}

export interface FrameSource {
  captureFrame(scale: number): Promise<HTMLCanvasElement>;
}

export interface PngInput {
  /** The scene canvas: the PNG is 2× its CSS width, and 2× its height plus the readout band. */
  readonly canvas: HTMLCanvasElement;
  readonly scene: FrameSource | null;
  readonly theme: Theme;
  readonly title: string;
  /** Memory lines under the title, e.g. "Peak 27.4 GB per rank · now 20.1 GB at step 1 of 19". */
  readonly lines: readonly string[];
  readonly verification: string;
  readonly memory: MemoryData | null;
  /** Every strategy side by side, drawn under the band (the band grows by its height). */
  readonly comparison?: ComparisonPng | null;
}

export interface PngLayout {
  /** CSS px of the scene frame (the PNG holds it at 2×). */
  readonly sceneWidth: number;
  readonly sceneHeight: number;
  /** CSS px of the readout band under the frame. */
  readonly bandHeight: number;
  readonly scale: number;
}

export const PNG_SCALE = 2;

/** Band height for a frame width: text beside the chart when wide, above it when narrow. */
export function pngLayout(sceneWidth: number, sceneHeight: number): PngLayout {
  const w = Math.max(1, Math.round(sceneWidth));
  const h = Math.max(1, Math.round(sceneHeight));
  const bandHeight = w >= 560 ? Math.round(Math.max(170, Math.min(260, w * 0.26))) : 300;
  return { sceneWidth: w, sceneHeight: h, bandHeight, scale: PNG_SCALE };
}

function fitText(ctx: CanvasRenderingContext2D, text: string, maxWidth: number): string {
  if (ctx.measureText(text).width <= maxWidth) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

/** Greedy word wrap into at most `maxLines` lines. */
function wrap(ctx: CanvasRenderingContext2D, text: string, maxWidth: number, maxLines: number): string[] {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    const next = line ? `${line} ${word}` : word;
    if (ctx.measureText(next).width <= maxWidth || !line) line = next;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line) lines.push(line);
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = fitText(ctx, `${kept[maxLines - 1] ?? ''} ${lines.slice(maxLines).join(' ')}`, maxWidth);
    return kept;
  }
  return lines;
}

/**
 * The scene's current frame (scene.captureFrame(2), which carries the scene's own labels) with a
 * band of readouts under it: title, memory summary, verification, and the memory-per-rank chart.
 * Nothing is drawn over the scene, so its labels stay legible.
 */
export async function composePng(input: PngInput): Promise<{ canvas: HTMLCanvasElement; layout: PngLayout }> {
  const base = pngLayout(input.canvas.clientWidth || input.canvas.width, input.canvas.clientHeight || input.canvas.height);
  const T = input.comparison ? comparisonBandHeight(input.comparison) : 0;
  const layout: PngLayout = { ...base, bandHeight: base.bandHeight + T };
  const { sceneWidth: W, sceneHeight: H, scale } = layout;
  const B = base.bandHeight;
  const out = document.createElement('canvas');
  out.width = W * scale;
  out.height = (H + B + T) * scale;
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas context for the PNG');
  const style = chartStyle(input.theme);
  if (input.theme !== 'transparent') {
    ctx.fillStyle = input.theme === 'light' ? '#f6f7f9' : '#0b0d12';
    ctx.fillRect(0, 0, out.width, out.height);
  }
  if (input.scene) {
    try {
      const frame = await input.scene.captureFrame(scale);
      ctx.drawImage(frame, 0, 0, W * scale, H * scale);
    } catch {
      /* the readouts alone still make a useful image */
    }
  }
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  // The band.
  if (input.theme !== 'transparent') {
    ctx.fillStyle = input.theme === 'light' ? '#ffffff' : '#151821';
    ctx.fillRect(0, H, W, B + T);
  }
  ctx.strokeStyle = style.grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, H + 0.5);
  ctx.lineTo(W, H + 0.5);
  ctx.stroke();

  const pad = 12;
  const fs = 13;
  const wide = W >= 560;
  const textW = wide ? Math.round(W * 0.4) - pad : W - 2 * pad;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  let y = H + pad;
  ctx.font = `650 ${fs + 2}px ${style.font}`;
  ctx.fillStyle = style.fg;
  for (const line of wrap(ctx, input.title, textW, 3)) {
    ctx.fillText(line, pad, y);
    y += fs + 6;
  }
  y += 4;
  ctx.font = `400 ${fs}px ${style.font}`;
  for (const text of input.lines) {
    ctx.fillStyle = text.startsWith('⚠') ? style.warn : style.fg;
    for (const line of wrap(ctx, text, textW, 2)) {
      ctx.fillText(line, pad, y);
      y += fs + 4;
    }
  }
  if (input.verification) {
    y += 4;
    ctx.fillStyle = style.muted;
    for (const line of wrap(ctx, input.verification, textW, 2)) {
      ctx.fillText(line, pad, y);
      y += fs + 4;
    }
  }
  if (input.memory) {
    const box: Box = wide ? { x: Math.round(W * 0.4) + pad, y: H + 6, w: W - Math.round(W * 0.4) - 2 * pad, h: B - 12 } : { x: pad, y: Math.min(y + 6, H + B - 150), w: W - 2 * pad, h: H + B - Math.min(y + 6, H + B - 150) - 6 };
    drawMemoryChart(ctx, input.memory, box, style, { legend: true, fontPx: 11 });
  }
  if (input.comparison) drawComparisonBand(ctx, input.comparison, { x: 0, y: H + B, w: W, h: T }, style);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  return { canvas: out, layout };
}

export async function downloadCanvas(canvas: HTMLCanvasElement, filename: string): Promise<void> {
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('the browser could not encode the PNG');
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function pngFilename(params: Params, step: number): string {
  return `shardscope-${params.strategy}-${formatTokens(params.seq)}-${params.ranks}ranks-step${step + 1}.png`.replace(/[^A-Za-z0-9._-]/g, '_');
}
