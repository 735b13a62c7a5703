// Sharing: the iframe snippet for the current state, and the PNG of the current frame with the
// readouts drawn over it at 2×.

import type { Params } from '../model/params.ts';
import { MODEL_PRESETS } from '../model/params.ts';
import { STRATEGIES } from '../model/strategies/index.ts';
import { formatBytes, formatTokens } from '../model/format.ts';
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
  return `${STRATEGIES[params.strategy].name}, ${formatTokens(params.seq)} tokens on ${params.ranks} ranks, ${model}`;
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
  /** The scene canvas (its CSS size sets the PNG's size: 2× it). */
  readonly canvas: HTMLCanvasElement;
  readonly scene: FrameSource | null;
  readonly theme: Theme;
  readonly title: string;
  readonly caption: string;
  readonly verification: string;
  readonly memory: MemoryData | null;
}

const SCALE = 2;

function plate(ctx: CanvasRenderingContext2D, box: Box, color: string): void {
  ctx.fillStyle = color;
  const r = 6;
  ctx.beginPath();
  ctx.roundRect(box.x, box.y, box.w, box.h, r);
  ctx.fill();
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

/** Composites the scene frame and the readouts onto one canvas of 2× the scene canvas's CSS size. */
export async function composePng(input: PngInput): Promise<HTMLCanvasElement> {
  const cssW = Math.max(1, Math.round(input.canvas.clientWidth || input.canvas.width));
  const cssH = Math.max(1, Math.round(input.canvas.clientHeight || input.canvas.height));
  const out = document.createElement('canvas');
  out.width = cssW * SCALE;
  out.height = cssH * SCALE;
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas context for the PNG');
  const style = chartStyle(input.theme);
  if (input.theme !== 'transparent') {
    ctx.fillStyle = input.theme === 'light' ? '#f6f7f9' : '#0b0d12';
    ctx.fillRect(0, 0, out.width, out.height);
  }
  if (input.scene) {
    try {
      const frame = await input.scene.captureFrame(SCALE);
      ctx.drawImage(frame, 0, 0, out.width, out.height);
    } catch {
      /* the readouts alone still make a useful image */
    }
  }
  ctx.setTransform(SCALE, 0, 0, SCALE, 0, 0);
  const pad = 12;
  const fs = Math.max(11, Math.min(15, Math.round(cssW / 80)));
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';

  // Title and step caption, top left.
  ctx.font = `600 ${fs + 2}px ${style.font}`;
  const titleTextW = ctx.measureText(input.title).width;
  ctx.font = `400 ${fs}px ${style.font}`;
  const captionTextW = ctx.measureText(input.caption).width;
  const titleW = Math.min(cssW - 2 * pad, Math.max(titleTextW, captionTextW) + 16);
  plate(ctx, { x: pad, y: pad, w: titleW, h: fs * 2 + 20 }, style.plate);
  ctx.fillStyle = style.fg;
  ctx.font = `600 ${fs + 2}px ${style.font}`;
  ctx.fillText(fitText(ctx, input.title, titleW - 16), pad + 8, pad + 6);
  ctx.font = `400 ${fs}px ${style.font}`;
  ctx.fillStyle = style.muted;
  ctx.fillText(fitText(ctx, input.caption, titleW - 16), pad + 8, pad + fs + 12);

  // Memory chart, bottom right.
  if (input.memory) {
    const w = Math.min(cssW * 0.46, 480);
    const h = Math.min(cssH * 0.5, 290);
    const box: Box = { x: cssW - w - pad, y: cssH - h - pad, w, h };
    plate(ctx, box, style.plate);
    ctx.font = `600 ${fs}px ${style.font}`;
    ctx.fillStyle = style.fg;
    ctx.textBaseline = 'top';
    ctx.fillText(fitText(ctx, `Memory per rank · peak ${input.memory.maxPeak === input.memory.minPeak ? formatBytes(input.memory.maxPeak) : `${formatBytes(input.memory.minPeak)} – ${formatBytes(input.memory.maxPeak)}`}`, box.w - 16), box.x + 8, box.y + 6);
    drawMemoryChart(ctx, input.memory, { x: box.x + 6, y: box.y + fs + 10, w: box.w - 12, h: box.h - fs - 14 }, style, { legend: true, fontPx: Math.max(10, fs - 2) });
  }

  // Verification, bottom left.
  if (input.verification) {
    ctx.font = `400 ${fs}px ${style.font}`;
    const maxW = input.memory ? cssW * 0.5 - 2 * pad : cssW - 2 * pad;
    const text = fitText(ctx, input.verification, maxW - 16);
    const w = ctx.measureText(text).width + 16;
    plate(ctx, { x: pad, y: cssH - pad - fs - 12, w, h: fs + 12 }, style.plate);
    ctx.fillStyle = style.fg;
    ctx.textBaseline = 'middle';
    ctx.fillText(text, pad + 8, cssH - pad - (fs + 12) / 2);
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  return out;
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
