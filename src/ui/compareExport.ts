// The comparison table drawn into the PNG's readout band (share.ts composePng), under the memory
// chart: one line per strategy, best values bold with a star, the current strategy highlighted.

import type { Box } from './charts.ts';
import type { ChartStyle } from './palette.ts';

export interface ComparisonPng {
  readonly caption: string;
  readonly header: readonly string[];
  readonly rows: readonly { readonly cells: readonly string[]; readonly best: readonly boolean[]; readonly current: boolean; readonly valid: boolean }[];
}

const FS = 11;
const ROW = FS + 6;

/** Columns kept at a frame width (the strategy name and peak first; the rest while they fit). */
function columnsFor(width: number, n: number): number[] {
  const perCol = 92;
  const keep = Math.max(2, Math.min(n, Math.floor((width - 24) / perCol)));
  // Priority: strategy, peak, longest fit, K/V, exposed, comm fwd, comm bwd, balance, steps.
  const priority = [0, 1, 8, 2, 5, 3, 4, 7, 6].filter((i) => i < n);
  return priority.slice(0, keep).sort((a, b) => a - b);
}

/** CSS px the table needs under the band at a frame width. */
export function comparisonBandHeight(table: ComparisonPng): number {
  return 10 + ROW * (2 + table.rows.length) + 8;
}

export function drawComparisonBand(ctx: CanvasRenderingContext2D, table: ComparisonPng, box: Box, style: ChartStyle): void {
  const cols = columnsFor(box.w, table.header.length);
  const pad = 12;
  const x0 = box.x + pad;
  const w = box.w - 2 * pad;
  const nameW = Math.min(150, Math.max(90, w * 0.2));
  const colW = (w - nameW) / Math.max(1, cols.length - 1);
  const xOf = (k: number): number => (k === 0 ? x0 : x0 + nameW + colW * k);
  ctx.strokeStyle = style.grid;
  ctx.beginPath();
  ctx.moveTo(box.x, box.y + 0.5);
  ctx.lineTo(box.x + box.w, box.y + 0.5);
  ctx.stroke();
  let y = box.y + 8;
  ctx.textBaseline = 'top';
  ctx.font = `600 ${FS}px ${style.font}`;
  ctx.fillStyle = style.muted;
  ctx.textAlign = 'left';
  ctx.fillText(`All strategies · ${table.caption} · ★ best in column`, x0, y);
  y += ROW;
  const cell = (text: string, k: number, yy: number): void => {
    ctx.textAlign = k === 0 ? 'left' : 'right';
    const maxW = (k === 0 ? nameW : colW) - 6;
    let t = text;
    while (t.length > 1 && ctx.measureText(t).width > maxW) t = `${t.slice(0, -2)}…`;
    ctx.fillText(t, k === 0 ? xOf(0) : xOf(k) - 2, yy);
  };
  ctx.font = `400 ${FS - 1}px ${style.font}`;
  cols.forEach((c, k) => cell(table.header[c] ?? '', k, y));
  y += ROW;
  for (const row of table.rows) {
    if (row.current) {
      ctx.fillStyle = style.grid;
      ctx.fillRect(x0 - 4, y - 2, w + 8, ROW);
    }
    cols.forEach((c, k) => {
      const best = row.best[c] === true;
      ctx.font = `${best || (k === 0 && row.current) ? 700 : 400} ${FS}px ${style.font}`;
      ctx.fillStyle = !row.valid && k > 0 ? style.muted : style.fg;
      cell(k > 0 && !row.valid ? (k === 1 ? 'cannot run' : '') : `${row.cells[c] ?? ''}${best ? ' ★' : ''}`, k, y);
    });
    y += ROW;
  }
}
