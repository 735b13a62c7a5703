// The causal work matrix (query blocks down, key blocks across, each cell coloured by the rank that
// computed it) and the per-rank work bars under it. The data is ./matrix.ts; this draws it.

import { mix, rankColor } from './colors.ts';
import type { SceneContext } from './context.ts';
import { formatTokens, type Rect } from './layout.ts';
import { fitText, textWidth, type Label } from './overlay.ts';

export interface MatrixView {
  /** Outline, one fixed slot per cell (bands: one per sharing rank), total-work outlines. */
  buildBase(): void;
  /** Recolours the cells for a step; the bars and the labels. */
  draw(stepIndex: number, labels: Label[]): void;
}

export function createMatrixView(ctx: SceneContext): MatrixView {
  // First slot of each cell (slots per cell = next − this), and whether its fill is inset for a frame.
  let cellSlot = new Int32Array(0);
  let cellShrunk = new Uint8Array(0);

  function buildBase(): void {
    const { base, cells } = ctx.pools;
    const m = ctx.model;
    if (!m) return;
    const palette = ctx.palette;
    const M = m.matrix;
    const R = ctx.layout.matrix;
    const n = M.n;
    base.push(R.x - 1, R.y - 1, R.w + 2, R.h + 2, palette.emptyEdge);
    cellSlot = new Int32Array(n * n + 1);
    cellShrunk = new Uint8Array(n * n);
    // Read once: the owners are computed on first read (a getter).
    const owners = M.owner;
    const sharers = M.sharers;
    // Cell (i, j)'s box, inset so neighbours stay apart when cells are big (draw() moves it for a frame).
    const cellPx = R.w / n;
    const inset = cellPx >= 5 ? 1 : cellPx >= 3 ? 0.5 : 0;
    const w = cellPx - 2 * inset;
    for (let i = 0; i < n; i++) {
      const y = R.y + i * cellPx + inset;
      for (let j = 0; j < n; j++) {
        const c = i * n + j;
        cellSlot[c] = cells.count;
        const x = R.x + j * cellPx + inset;
        const owner = owners[c] ?? -1;
        if ((M.total[c] ?? 0) <= 0 || j > i || owner !== -2) {
          cells.push(x, y, w, w, palette.empty);
          continue;
        }
        let bands = 0;
        for (let q = 0; q < 4; q++) if ((sharers[c * 4 + q] ?? -1) >= 0) bands++;
        bands = Math.max(1, bands);
        for (let q = 0; q < bands; q++) cells.push(x, y + (q * w) / bands, w, w / bands, palette.empty);
      }
    }
    cellSlot[n * n] = cells.count;
    const B = ctx.layout.bars;
    const P = M.ranks;
    const bw = B.w / P;
    const F = M.steps.length;
    for (let r = 0; r < P; r++) {
      const finalWork = M.perRank[(F - 1) * P + r] ?? 0;
      const hTotal = (finalWork / Math.max(1, m.maxWork)) * B.h;
      base.push(B.x + r * bw, B.y + B.h - hTotal, bw - (bw > 4 ? 1 : 0), hTotal, palette.emptyEdge);
    }
  }

  function draw(stepIndex: number, labels: Label[]): void {
    const m = ctx.model;
    if (!m) return;
    const { cells, cellFrames, blocks } = ctx.pools;
    const palette = ctx.palette;
    const layout = ctx.layout;
    const M = m.matrix;
    const R = layout.matrix;
    const n = M.n;
    const n2 = n * n;
    const cellPx = R.w / n;
    const inset = cellPx >= 5 ? 1 : cellPx >= 3 ? 0.5 : 0;
    const f = m.progress[stepIndex] ?? -1;
    const step = m.schedule.steps[stepIndex];
    const isCurrent = step?.phase === 'forward' && step.compute.length > 0;
    const pending = mix(palette.empty, palette.emptyEdge, 0.9);
    const big = cellPx >= 9;
    // Pairs done before this step, then up to it (in this order: the matrix caches the latest two rows).
    const owners = M.owner;
    const sharers = M.sharers;
    const before = f > 0 ? M.cumAt(f - 1) : null;
    const upTo = f >= 0 ? M.cumAt(f) : null;
    // Recolour the fixed cell slots; only cells whose frame state flips get a new box.
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const c = i * n + j;
        const total = M.total[c] ?? 0;
        if (total <= 0) continue;
        const slot = cellSlot[c] as number;
        const slots = (cellSlot[c + 1] as number) - slot;
        const done = upTo ? (upTo[c] as number) : 0;
        const frac = Math.min(1, done / total);
        const fresh = isCurrent && f >= 0 && done - (before ? (before[c] as number) : 0) > 0;
        const shrink = fresh && big && frac > 0 ? 1 : 0;
        if (shrink !== cellShrunk[c]) {
          cellShrunk[c] = shrink;
          const x = R.x + j * cellPx + inset + shrink * 1.5;
          const y = R.y + i * cellPx + inset + shrink * 1.5;
          const w = cellPx - 2 * inset - shrink * 3;
          for (let q = 0; q < slots; q++) cells.setRect(slot + q, x, y + (q * w) / slots, w, w / slots);
        }
        if (shrink) cellFrames.push(R.x + j * cellPx, R.y + i * cellPx, cellPx, cellPx, palette.highlight);
        if (frac <= 0) {
          for (let q = 0; q < slots; q++) cells.setColor(slot + q, pending[0], pending[1], pending[2]);
          continue;
        }
        // Done earlier: muted rank colour; computed in this very step: full colour (+ a frame when cells are large).
        const k = fresh ? 1 : 0.45 + 0.3 * frac;
        const owner = owners[c] ?? -1;
        for (let q = 0; q < slots; q++) {
          const r = owner >= 0 ? owner : (sharers[c * 4 + q] ?? 0);
          const rc = rankColor(r);
          cells.setColor(slot + q, pending[0] + (rc[0] - pending[0]) * k, pending[1] + (rc[1] - pending[1]) * k, pending[2] + (rc[2] - pending[2]) * k);
        }
      }
    }
    const cellTokens = formatTokens(m.schedule.seq / n);
    const notes: string[][] = [
      ['empty = masked (k > q): skipped', 'empty = masked (k > q)', 'empty = masked'],
      [`1 cell = ${cellTokens} × ${cellTokens} tokens`, `1 cell = ${cellTokens}² tokens`, `cell = ${cellTokens}²`],
      ['bright = computed in this step', 'bright = this step'],
      ...(m.shared ? [['bands = shared by several ranks', 'bands = shared']] : []),
    ];
    const titleRight = layout.stacked || layout.wide ? layout.panel.x - 10 : layout.width - 8;
    const matrixTip = `Causal work matrix: query blocks down, key blocks across; each cell is coloured by the rank that computed it. ${notes.map((v) => v[0]).join('; ')}.`;
    labels.push({ text: fitText(['causal work: query ↓ × key →, colour = rank', 'causal work: q ↓ × k →, colour = rank', 'causal work: q ↓ × k →', 'causal work', 'work'], titleRight - R.x, 12, true), x: R.x, y: R.y - 17 * ctx.k, align: 'l', cls: 'ss-coltitle', title: matrixTip, maxW: titleRight - R.x });
    labels.push({ text: 'q', x: R.x - 10 * ctx.k, y: R.y + R.h / 2, align: 'c', cls: 'ss-small ss-vm' });
    // Notes sit in the empty (masked) upper triangle, on a backdrop, only where they clear the cells.
    let line = 0;
    for (const variants of notes) {
      const y = R.y + 3 + line * 15 * ctx.k;
      const row = Math.floor((y + 15 * ctx.k - R.y) / cellPx);
      const avail = R.w - (row + 1) * cellPx - 8;
      const fit = variants.find((v) => textWidth(v, 11) + 6 <= avail);
      if (!fit || y + 15 * ctx.k > R.y + R.h) break;
      labels.push({ text: fit, x: R.x + R.w - 2, y, align: 'r', cls: 'ss-small ss-note' });
      line++;
    }

    // Work bars per rank: done so far (rank colour) over the total (outline colour, in the base).
    const B = layout.bars;
    const P = M.ranks;
    const bw = B.w / P;
    for (let r = 0; r < P; r++) {
      const now = f >= 0 ? (M.perRank[f * P + r] ?? 0) : 0;
      const hNow = (now / Math.max(1, m.maxWork)) * B.h;
      blocks.push(B.x + r * bw, B.y + B.h - hNow, bw - (bw > 4 ? 1 : 0), hNow, rankColor(r));
    }
    const ratio = m.busiestRatio;
    const rs = Number.isFinite(ratio) ? `${ratio.toFixed(ratio < 10 ? 2 : 0)}×` : '∞';
    const barsRight = layout.stacked || layout.wide ? layout.panel.x - 10 : layout.width - 8;
    labels.push({
      text: fitText([`attention work per rank (busiest/idlest ${rs})`, `work per rank (busiest/idlest ${rs})`, `work per rank, max/min ${rs}`, `max/min ${rs}`, rs], barsRight - B.x, 11),
      x: B.x,
      y: B.y - 16 * ctx.k,
      align: 'l',
      cls: 'ss-small',
      title: `Attention work per rank: the coloured part is done so far, the outline is the rank's total. Busiest rank / idlest rank = ${rs}.`,
      maxW: barsRight - B.x,
    });
  }

  return { buildBase, draw };
}
