// The backward steps' real gradient partial sums: for each visible rank, the L2 norms of the dK, dV
// (and dQ) buffers it holds at the end of the step, read back from the latest verification run
// (window.shardscope.gradientNorms), drawn as small bars + numbers in the lane's dO column. The
// numbers are measured on the executed (small) problem, not the modelled one; a label says so.
// Data flows one way: verification result → scene.setVerification → ctx.verification → here.

import type { GradientStepNorms } from '../model/execution.ts';
import type { Rgb } from './colors.ts';
import { mix } from './colors.ts';
import type { SceneContext } from './context.ts';
import type { ColumnBox, Rect } from './layout.ts';
import { fitText, textWidth, type Label } from './overlay.ts';

export const GRAD_TENSORS = ['dK', 'dV', 'dQ'] as const;
export type GradTensorName = (typeof GRAD_TENSORS)[number];

/** One rank's gradient norms at one step: per tensor, √Σ‖b‖² over the buffers of that tensor it holds. */
export interface RankGradients {
  readonly rank: number;
  /** null: the rank holds no buffer of that tensor at this step. */
  readonly norms: Readonly<Record<GradTensorName, number | null>>;
  /** The buffers behind the numbers (for the tooltip). */
  readonly buffers: readonly { readonly tensor: GradTensorName; readonly label: string; readonly norm: number }[];
}

export interface GradientReadout {
  readonly step: number;
  readonly ranks: readonly RankGradients[];
  /** Largest combined norm of each tensor over every backward step and rank: the bars' full length. */
  readonly scale: Readonly<Record<GradTensorName, number>>;
}

/** The slice of a verification result this part reads (checked at run time: it arrives from a worker). */
export interface GradientSource {
  readonly strategy: string;
  readonly ranks: number;
  readonly backend: string;
  readonly seqLen: number;
  readonly gradientNorms: readonly GradientStepNorms[];
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

/** The gradient norms of a verification result, or null when it has none (no backward, or malformed). Pure. */
export function readGradientSource(v: unknown): GradientSource | null {
  if (!isObj(v) || !isObj(v.backward)) return null;
  const norms = v.backward.gradientNorms;
  if (!Array.isArray(norms) || typeof v.strategy !== 'string' || typeof v.ranks !== 'number') return null;
  for (const s of norms) if (!isObj(s) || typeof s.step !== 'number' || !Array.isArray(s.pieces)) return null;
  return {
    strategy: v.strategy,
    ranks: v.ranks,
    backend: typeof v.backend === 'string' ? v.backend : 'gpu',
    seqLen: typeof v.seqLen === 'number' ? v.seqLen : 0,
    gradientNorms: norms as GradientStepNorms[],
  };
}

/** Combines the buffers of each rank and tensor held at `step`: √Σ‖b‖² (the norm of them all, stacked). Pure. */
export function combineStep(step: GradientStepNorms, ranks: number): RankGradients[] {
  const sq = Array.from({ length: ranks }, () => ({ dK: -1, dV: -1, dQ: -1 }) as Record<GradTensorName, number>);
  const buffers: { tensor: GradTensorName; label: string; norm: number }[][] = Array.from({ length: ranks }, () => []);
  for (const p of step.pieces) {
    const t = p.tensor as GradTensorName;
    const row = sq[p.rank];
    if (!row || !GRAD_TENSORS.includes(t) || !Number.isFinite(p.norm)) continue;
    row[t] = Math.max(0, row[t]) + p.norm * p.norm;
    buffers[p.rank]?.push({ tensor: t, label: `${p.label} (${p.role})`, norm: p.norm });
  }
  return sq.map((row, rank) => ({
    rank,
    norms: { dK: row.dK < 0 ? null : Math.sqrt(row.dK), dV: row.dV < 0 ? null : Math.sqrt(row.dV), dQ: row.dQ < 0 ? null : Math.sqrt(row.dQ) },
    buffers: buffers[rank] ?? [],
  }));
}

/**
 * The readout for schedule step `step` of a schedule with this strategy and rank count, or null when
 * the source is for other settings (a stale result) or did not record that step. Pure.
 */
export function gradientReadout(source: GradientSource | null, strategy: string, ranks: number, step: number): GradientReadout | null {
  if (!source || source.strategy !== strategy || source.ranks !== ranks) return null;
  const at = source.gradientNorms.find((s) => s.step === step);
  if (!at) return null;
  const scale = { dK: 0, dV: 0, dQ: 0 };
  for (const s of source.gradientNorms)
    for (const r of combineStep(s, ranks)) for (const t of GRAD_TENSORS) scale[t] = Math.max(scale[t], r.norms[t] ?? 0);
  return { step, ranks: combineStep(at, ranks), scale };
}

/** A norm as the labels show it (4 significant digits; the e2e test reads it back). */
export function formatNorm(n: number, digits = 4): string {
  if (n === 0) return '0';
  return Math.abs(n) >= 1e5 || Math.abs(n) < 1e-3 ? n.toExponential(digits - 1) : n.toPrecision(digits);
}

export function provenanceText(source: Pick<GradientSource, 'backend' | 'seqLen'>): string[] {
  const where = source.backend === 'cpu' ? 'CPU' : 'GPU';
  return [`‖grad‖ measured on the ${where} run, ${source.seqLen} executed tokens`, `‖grad‖: ${where} run, ${source.seqLen} tokens`, `${where}, ${source.seqLen} tok`, `${where} ${source.seqLen}t`];
}

export interface GradientBar extends Rect {
  readonly tensor: GradTensorName;
  readonly rank: number;
}

export interface GradientLayout {
  /** Backing chips under the readouts (the lane's blocks would make the numbers unreadable). */
  readonly chips: readonly Rect[];
  readonly bars: readonly GradientBar[];
  readonly labels: readonly Label[];
}

/** Base font size (px, before the type scale k) of the readout labels. */
const SIZE = 11;

/**
 * Places each lane's readout in the dO column: numbers at the bottom right of the lane, a bar per
 * tensor growing from the column's left edge (length ∝ norm / the largest norm of that tensor over
 * the backward pass), and the provenance label at the top of the first lane that has room. Lanes too
 * short for a line of text get nothing. Pure (`measure` defaults to the overlay's text measure).
 */
export function layoutGradients(
  readout: GradientReadout,
  lanes: readonly (Rect & { rank: number })[],
  col: Pick<ColumnBox, 'x' | 'w'>,
  provenance: readonly string[],
  k = 1,
  /** Ranks whose dO cell carries the stage's "idle" label mid-lane: the provenance goes elsewhere. */
  idle: ReadonlySet<number> = new Set(),
  measure: (text: string, size: number) => number = (t, s) => textWidth(t, s),
): GradientLayout {
  const chips: Rect[] = [];
  const bars: GradientBar[] = [];
  const labels: Label[] = [];
  const lineH = 13 * k;
  let provenanceShown = false;
  // First the texts, so that every lane's bars share one length scale (the widest text decides the room).
  const rows = [];
  // Where no lane has room for the provenance on a line of its own, the first readout carries it.
  const tags = provenance.slice(-2);
  let tagFirst = !lanes.some((l) => l.h >= 2.6 * lineH && !idle.has(l.rank) && readout.ranks[l.rank]);
  for (const lane of lanes) {
    // The stage writes "idle" mid-lane: a lane too short for both lines gets no readout.
    if (lane.h < (idle.has(lane.rank) ? 2 * lineH : lineH)) continue;
    const r = readout.ranks[lane.rank];
    if (!r) continue;
    const shown = GRAD_TENSORS.filter((t) => r.norms[t] !== null);
    if (!shown.length) continue;
    const parts = shown.map((t) => `${t} ${formatNorm(r.norms[t] as number)}`);
    const short = shown.map((t) => `${t} ${formatNorm(r.norms[t] as number, 3)}`);
    const noQ = (list: string[]): string[] => list.filter((p) => !p.startsWith('dQ'));
    // dQ is dropped before precision goes below 3 digits; the tooltip always has all of them.
    const variants = [parts.join('  '), short.join(' '), noQ(parts).join('  '), noQ(short).join(' ')].filter(Boolean);
    const tagged = tagFirst && tags.length > 0;
    tagFirst = false;
    const withTag = tagged ? tags.flatMap((t) => [`${t}: ${short.join(' ')}`, `${t}: ${noQ(short).join(' ')}`]) : [];
    const text = fitText([...withTag, ...variants], col.w - 6, SIZE);
    rows.push({ lane, r, shown, parts, text, tagged: withTag.includes(text), textW: Math.min(col.w - 6, measure(text, SIZE)) });
  }
  const maxTextW = rows.reduce((a, x) => Math.max(a, x.textW), 0);
  const barW = Math.min(60 * k, col.w - maxTextW - 12);
  for (const { lane, r, shown, parts, text, tagged, textW } of rows) {
    const tip =
      `Rank ${r.rank} at the end of this step: ${parts.join(', ')} (L2 norm over every buffer of that tensor the rank holds).\n` +
      r.buffers.map((b) => `${b.label}: ${formatNorm(b.norm)}`).join('\n');
    labels.push({ text, x: col.x + col.w - 3, y: lane.y + lane.h - lineH, align: 'r', cls: tagged ? 'ss-small ss-grad ss-grad-source' : 'ss-small ss-grad', maxW: col.w - 6, title: `${tip}\n${provenance[0] ?? ''}` });
    // Bars left of the numbers, stacked in the lane's lower part.
    const chipW = (barW >= 16 ? barW + 6 : 0) + textW + 6;
    chips.push({ x: col.x + col.w - chipW, y: lane.y + lane.h - lineH - 1, w: chipW, h: lineH + 1 });
    if (barW >= 16) {
      const drawn = shown.filter((t) => text.includes(`${t} `));
      const bh = Math.max(1, Math.min(3 * k, (lineH - 2) / Math.max(1, drawn.length) - 1));
      drawn.forEach((t, i) => {
        const full = readout.scale[t];
        const f = full > 0 ? Math.min(1, (r.norms[t] as number) / full) : 0;
        bars.push({ tensor: t, rank: r.rank, x: col.x + col.w - chipW + 3, y: lane.y + lane.h - lineH + 1 + i * (bh + 1), w: Math.max(1, f * barW), h: bh });
      });
    }
    if (!provenanceShown && lane.h >= 2.6 * lineH && !idle.has(lane.rank)) {
      const ptext = fitText(provenance, col.w - 6, SIZE);
      const pw = Math.min(col.w - 6, measure(ptext, SIZE)) + 6;
      chips.push({ x: col.x + col.w - pw, y: lane.y, w: pw, h: lineH + 1 });
      labels.push({ text: ptext, x: col.x + col.w - 3, y: lane.y + 1, align: 'r', cls: 'ss-small ss-grad-source', maxW: col.w - 6, title: provenance[0] });
      provenanceShown = true;
    }
  }
  return { chips, bars, labels };
}

export interface GradientsView {
  /** Pushes this backward step's bars (into the step's blocks pool) and labels; nothing without a matching result. */
  draw(stepIndex: number, labels: Label[]): void;
}

export function createGradientsView(ctx: SceneContext): GradientsView {
  let cached: { v: unknown; source: GradientSource | null } = { v: undefined, source: null };
  return {
    draw(stepIndex, labels) {
      const m = ctx.model;
      if (!m || m.schedule.steps[stepIndex]?.phase !== 'backward') return;
      if (cached.v !== ctx.verification) cached = { v: ctx.verification, source: readGradientSource(ctx.verification) };
      const source = cached.source;
      const readout = gradientReadout(source, m.schedule.strategy, m.schedule.ranks, stepIndex);
      if (!readout || !source) return;
      const col = ctx.layout.columns.find((c) => c.id === 'o');
      if (!col) return;
      const idle = new Set((m.holdings[stepIndex] ?? []).filter((h) => h.idle && h.column === 'o').map((h) => h.rank));
      const out = layoutGradients(readout, ctx.layout.lanes, col, provenanceText(source), ctx.k, idle);
      const ink = ctx.palette.ink;
      const shade: Record<GradTensorName, Rgb> = { dK: ink, dV: mix(ink, ctx.palette.lane, 0.35), dQ: mix(ink, ctx.palette.lane, 0.6) };
      const clear = ctx.palette.clearAlpha > 0 ? ctx.palette.clear : ctx.palette.lane;
      for (const c of out.chips) ctx.pools.blocks.push(c.x, c.y, c.w, c.h, clear);
      for (const b of out.bars) ctx.pools.blocks.push(b.x, b.y, b.w, b.h, shade[b.tensor]);
      labels.push(...out.labels);
    },
  };
}
