// The stage: one lane per rank with its Q, K/V and O columns, the blocks each rank holds this
// step, the lane and column labels and the token-colour legend.

import type { Phase } from '../model/schedule.ts';
import { tensorsOf } from '../model/scheduleCodec.ts';
import { rankColor, tokenColor } from './colors.ts';
import { blockY, column, drawSet, lanePitch, laneOf, type Model, type SceneContext } from './context.ts';
import { formatTokens, type Rect, type SceneLayout } from './layout.ts';
import { fitText, textWidth, type Label } from './overlay.ts';
import { columnOf, type ColumnId } from './tracks.ts';
import { layoutKindOf, lensBox, lensOwners } from './lens.ts';
import type { LayoutKind } from '../model/layout.ts';

const GROUP_NOUN: Record<string, string> = { usp: 'Ulysses group', default: 'node' };

/** Lanes, group brackets, rank swatches and the legend ramp: what changes only with layout, theme or schedule. */
export function buildStageBase(ctx: SceneContext): void {
  const { base } = ctx.pools;
  const L = ctx.layout;
  const palette = ctx.palette;
  const m = ctx.model;
  L.lanes.forEach((lane, r) => {
    for (const col of L.columns) base.push(col.x - 3, lane.y, col.w + 6, lane.h, r % 2 ? palette.laneAlt : palette.lane);
    if (m && lane.h >= 6 && (r % L.labelEvery === 0 || r === L.lanes.length - 1)) base.push(L.labels.x + L.labels.w + 2, lane.y + lane.h / 2 - 3, 4, 6, rankColor(r));
  });
  if (m && L.groups.length > 1) {
    for (const g of L.groups) base.push(L.labels.x - 3, g.y + 1, 3, g.h - 2, palette.group);
  }
  const parts = legendParts(ctx);
  if (parts.lens) {
    const { box, owners } = parts.lens;
    owners.forEach((r, i) => base.push(box.x + i * box.cell, box.y, box.cell - (box.cell > 4 ? 1 : 0.5), Math.min(10 * ctx.k, L.legend.h), r >= 0 ? rankColor(r) : palette.empty));
  }
  const unit = m ? unitOf(m) : null;
  const lg = legendLayout(parts.rest, m ? m.schedule.seq : 1, unit ? unit.tokens : 0, unit?.noun);
  for (let i = 0; i < 64; i++) base.push(lg.rampX + (i * lg.rampW) / 64, L.legend.y + 3, lg.rampW / 64 + 0.5, 8, tokenColor(i / 63));
}

const LENS_LABEL = 'layout';

/** Per schedule: the lens's layout and owners, and the legend's drawn unit (not recomputed per step). */
const lensCache = new WeakMap<Model, { kind: LayoutKind; owners: number[]; seq: number; unit: { noun: 'block' | 'chunk'; tokens: number } }>();

function unitOf(m: Model): { noun: 'block' | 'chunk'; tokens: number } {
  return lensCache.get(m)?.unit ?? drawnUnit(m.schedule.shards.map((x) => x.tokens), m.block);
}

/** The legend row: the token lens on the left (when it fits), then the block size and the colour ramp. */
function legendParts(ctx: SceneContext): { lens: { box: { x: number; y: number; cell: number; w: number }; owners: number[]; seq: number; kind: string } | null; rest: Rect } {
  const L = ctx.layout.legend;
  const m = ctx.model;
  if (!m) return { lens: null, rest: L };
  let lens = lensCache.get(m);
  if (!lens) {
    const kind = layoutKindOf(m.schedule.shards.map((x) => x.tokens));
    lens = { kind, ...lensOwners(kind, m.schedule.ranks), unit: drawnUnit(m.schedule.shards.map((x) => x.tokens), m.block) };
    lensCache.set(m, lens);
  }
  const { owners, seq, kind } = lens;
  const box = lensBox(L, owners.length, textWidth(LENS_LABEL, 11) + 6);
  if (!box) return { lens: null, rest: L };
  const used = box.w + 12;
  return { lens: { box, owners, seq, kind }, rest: { x: L.x + used, y: L.y, w: L.w - used, h: L.h } };
}

export interface LegendLayout {
  readonly rampX: number;
  readonly rampW: number;
  readonly block: string;
  readonly first: string;
  readonly last: string;
}

/**
 * The drawn unit the legend names: the shards' chunk when a chunk is smaller than the display
 * block (a 64-rank zigzag's 1,024-token chunks are drawn as they are, so "1 block = 8,192 tokens"
 * would contradict the chunks the caption names), else the display block. Pure.
 */
export function drawnUnit(shards: readonly (readonly { readonly count: number; readonly stride: number }[])[], block: number): { noun: 'block' | 'chunk'; tokens: number } {
  let chunk = Infinity;
  for (const set of shards) for (const seg of set) if (seg.count > 0 && seg.stride <= 1) chunk = Math.min(chunk, seg.count);
  return chunk < block ? { noun: 'chunk', tokens: chunk } : { noun: 'block', tokens: block };
}

/** Legend row: "1 block = … tokens" (or "1 chunk = …") on the left; "token 0 [ramp] seq−1" on the right, sized to fit. Pure. */
export function legendLayout(L: Rect, seq: number, block: number, noun: 'block' | 'chunk' = 'block'): LegendLayout {
  const blockN = formatTokens(block);
  const plural = block === 1 ? '' : 's';
  const blocks = block > 0 ? [`1 ${noun} = ${blockN} token${plural}`, `1 ${noun} = ${blockN} tok`, `${noun} = ${blockN}`] : [''];
  const firsts = ['token 0', '0'];
  const last = formatTokens(seq - 1);
  const lastW = textWidth(last, 11);
  for (const b of blocks) {
    for (const f of firsts) {
      const used = (b ? textWidth(b, 11, true) + 12 : 0) + textWidth(f, 11) + 6 + lastW + 6;
      const rampW = Math.min(320, L.w * 0.45, L.w - used);
      if (rampW >= 48) return { rampX: L.x + L.w - lastW - 6 - rampW, rampW, block: b, first: f, last };
    }
  }
  const rampW = Math.max(24, L.w - lastW - textWidth('0', 11) - 12);
  return { rampX: L.x + L.w - lastW - 6 - rampW, rampW, block: '', first: '0', last };
}

/** Column titles follow the tensors of the step: X for Megatron's sequence-parallel steps, gradients in the backward pass. */
export function columnTitles(phase: Phase | string, tensors: ReadonlySet<string> = new Set(), headsSplit = false): Record<ColumnId, { variants: string[]; tip: string }> {
  const t = columnTitlesFor(phase, tensors);
  if (!headsSplit || phase === 'loss') return t;
  // Heads split across ranks (Ulysses, USP, TP): the lane's vertical axis is the head axis.
  const tip = ' Heads are split across ranks: a block’s height and place in the lane are its heads (top = head 0).';
  return {
    q: { variants: [`${t.q.variants[1] ?? 'Q'} · ↕ heads split`, ...t.q.variants.slice(1)], tip: t.q.tip + tip },
    kv: { ...t.kv, tip: t.kv.tip + tip },
    o: { variants: [`${t.o.variants[1] ?? 'O'} · ↕ heads`, ...t.o.variants.slice(1)], tip: t.o.tip + tip },
  };
}

function columnTitlesFor(phase: Phase | string, tensors: ReadonlySet<string>): Record<ColumnId, { variants: string[]; tip: string }> {
  if (phase === 'loss')
    return {
      q: { variants: ['tokens (inputs)', 'tokens'], tip: 'The input tokens of each rank’s shard.' },
      kv: { variants: ['labels = next token', 'labels'], tip: 'Targets: label i is token i+1, shifted before sharding.' },
      o: { variants: ['loss Σℓ, count', 'Σℓ, n'], tip: 'Each rank’s local loss sum and label count, then the all-reduce.' },
    };
  const q = tensors.has('X')
    ? { variants: ['X · layer input (moves)', 'X'], tip: 'X: the layer’s input activations, sequence-sharded between the tensor-parallel regions.' }
    : phase === 'backward'
      ? { variants: ['Q · dQ accumulates', 'Q · dQ'], tip: 'Q: the rank’s query shard; dQ accumulates in place.' }
      : { variants: ['Q · query shard', 'Q'], tip: 'Q: the rank’s query shard.' };
  if (phase === 'backward')
    return {
      q,
      kv: { variants: ['K / V · dK, dV ▱', 'K / V'], tip: 'K/V block: keys in the top half, values in the bottom half. Slanted blocks (▱) are the gradients dK, dV travelling home.' },
      o: { variants: ['dO · incoming gradient', 'dO'], tip: 'dO: the gradient of the output arriving from the next layer.' },
    };
  return {
    q,
    kv: { variants: ['K / V · K top, V bottom', 'K / V'], tip: 'K/V block held this step: keys in the top half, values in the bottom half.' },
    o: { variants: ['O · m, l · output + softmax state', 'O · m, l'], tip: 'O: the output accumulator (acc), with the running softmax max m and sum l of every query row.' },
  };
}

/** Which lanes get a "rank r" label: every labelEvery-th, plus the last when it has room. Pure. */
export function labelledLanes(L: SceneLayout): number[] {
  const out: number[] = [];
  const pitch = lanePitch(L);
  L.lanes.forEach((_, r) => {
    if (r % L.labelEvery !== 0 && r !== L.lanes.length - 1) return;
    if (r === L.lanes.length - 1 && r % L.labelEvery !== 0 && L.labelEvery > 1 && pitch * (r % L.labelEvery) < 12) return;
    out.push(r);
  });
  return out;
}

/** Column titles, legend text, lane labels and this step's holdings. */
export function buildStage(ctx: SceneContext, stepIndex: number, labels: Label[]): void {
  const m = ctx.model;
  const L = ctx.layout;
  if (!m) return;
  const s = m.schedule;
  const step = s.steps[stepIndex];
  const phase = step?.phase ?? 'forward';
  const parts = legendParts(ctx);
  const unit = unitOf(m);
  const lg = legendLayout(parts.rest, s.seq, unit.tokens, unit.noun);
  if (parts.lens) {
    const { owners, seq, kind } = parts.lens;
    const tip = `Token → rank layout (${kind}), drawn for a ${seq}-token sequence on ${s.ranks} rank${s.ranks === 1 ? '' : 's'}: the first ${owners.length} tokens, one cell each, coloured by the owning rank. The same rule at ${formatTokens(s.seq)} tokens.`;
    labels.push({ text: LENS_LABEL, x: L.legend.x, y: L.legend.y - 1, align: 'l', cls: 'ss-small', title: tip });
  }
  const tensors = new Set<string>();
  for (const c of step?.collectives ?? []) for (const t of tensorsOf(c)) tensors.add(t);

  const headsSplit = (m.holdings[stepIndex] ?? []).some((h) => h.column === 'q' && h.heads.end - h.heads.start < m.params.heads);
  const titles = columnTitles(phase, tensors, headsSplit);
  for (const col of L.columns) {
    const t = titles[col.id];
    labels.push({ text: fitText(t.variants, col.w - 6, 12, true), x: col.x + col.w / 2, y: L.columnTitles.y + 1, align: 'c', cls: 'ss-coltitle', title: t.tip, maxW: col.w });
  }
  const rampTip = `colour = global token position, 0 … ${formatTokens(s.seq - 1)} (the same in every column and rank)`;
  labels.push({ text: lg.first, x: lg.rampX - 5, y: L.legend.y - 1, align: 'r', cls: 'ss-small', title: rampTip });
  labels.push({ text: lg.last, x: lg.rampX + lg.rampW + 5, y: L.legend.y - 1, align: 'l', cls: 'ss-small', title: rampTip });
  if (lg.block) labels.push({ text: lg.block, x: parts.rest.x, y: L.legend.y - 1, align: 'l', cls: 'ss-small ss-strong', title:
        unit.noun === 'chunk'
          ? `Each rank's shard is made of ${formatTokens(unit.tokens)}-token chunks, drawn as they are; longer runs are drawn ${formatTokens(m.block)} tokens at a time. Nothing is drawn per token.`
          : `Blocks are drawn ${formatTokens(m.block)} tokens at a time; nothing is drawn per token.`,
    });

  for (const r of labelledLanes(L)) {
    const lane = L.lanes[r];
    if (lane) labels.push({ text: L.labelEvery === 1 ? `rank ${r}` : `r${r}`, x: L.labels.x + L.labels.w, y: lane.y + lane.h / 2, align: 'r', cls: 'ss-rank ss-vm' });
  }
  if (L.groups.length > 1) {
    const groupNoun = GROUP_NOUN[s.strategy] ?? GROUP_NOUN.default ?? 'node';
    // Rotated along the group's bracket, centred on the group.
    // Along the bracket: the longest form that fits the group's height (rotated text runs vertically).
    for (const g of L.groups) {
      const text = fitText([`${groupNoun} ${g.group}`, `${groupNoun.split(' ')[0]} ${g.group}`, `g${g.group}`], g.h - 6, 10.5);
      if (textWidth(text, 10.5) <= g.h - 6) labels.push({ text, x: L.labels.x - 12, y: g.y + g.h / 2, align: 'c', cls: 'ss-group' });
    }
  }
  if (phase === 'loss') return;

  const { blocks } = ctx.pools;
  const holdings = m.holdings[stepIndex] ?? [];
  const oc = column(ctx, 'o');
  const idleText = fitText(['idle: block fully masked', 'idle: masked', 'idle'], oc.w - 14, 11);
  // A reduce-scatter replaces what the column held with the summed pieces arriving: the held
  // blocks recede so the sums stand out.
  const summedInto = new Set<string>();
  for (const c of step?.collectives ?? []) if (c.kind === 'reduce-scatter') for (const t of tensorsOf(c)) summedInto.add(columnOf(t));
  for (const h of holdings) {
    const lane = laneOf(ctx, h.rank);
    if (!lane) continue;
    const col = column(ctx, h.column);
    const dim = h.idle ? 0.72 : summedInto.has(h.column) ? 0.6 : 0;
    if (h.column === 'kv') {
      for (const t of ['K', 'V'] as const) {
        const y = blockY(ctx, lane, t, h.heads, m);
        drawSet(ctx, blocks, col, h.tokens, y.y, y.h, m, dim);
      }
    } else {
      const y = blockY(ctx, lane, h.tensor, h.heads, m);
      drawSet(ctx, blocks, col, h.tokens, y.y, y.h, m, dim);
    }
    if (h.idle && h.column === 'o' && lane.h >= 11) labels.push({ text: idleText, x: col.x + col.w - 4, y: lane.y + lane.h / 2, align: 'r', cls: 'ss-idle ss-vm', maxW: col.w - 4 });
  }
}

/** Approximate box of a label (text at 11 px × the type scale unless sized), for keeping new labels clear of it. */
function labelBox(l: Label, k: number): { x0: number; x1: number; y0: number; y1: number } {
  const w = Math.min(l.maxW ?? Infinity, textWidth(l.text, l.size ?? 11));
  const x0 = l.align === 'r' ? l.x - w : l.align === 'c' ? l.x - w / 2 : l.x;
  const h = 16 * k;
  // Labels with ss-vm are centred on y; the others hang from it.
  const y0 = (l.cls ?? '').includes('ss-vm') ? l.y - h / 2 : l.y;
  return { x0: x0 - 2, x1: x0 + w + 2, y0, y1: y0 + h };
}

/**
 * Where heads are split across ranks (Ulysses, USP, Megatron TP), the lane's vertical axis is the
 * head axis: each labelled lane names the query heads its rank holds ("heads 8–11 of 32") at the
 * right end of its Q column (or of O when a transfer label holds Q), clear of the step's other labels
 * (call after the transfer labels).
 */
export function headAxisLabels(ctx: SceneContext, stepIndex: number, labels: Label[]): void {
  const m = ctx.model;
  const L = ctx.layout;
  if (!m || m.schedule.steps[stepIndex]?.phase === 'loss') return;
  const holdings = m.holdings[stepIndex] ?? [];
  const total = m.params.heads;
  // Q's heads (O holds the same heads): in the Q column, or in O where Q's lane is taken by a transfer label.
  const byRank = new Map<number, { start: number; end: number }>();
  for (const h of holdings) if (h.column === 'q' && h.heads.end - h.heads.start < total) byRank.set(h.rank, h.heads);
  if (byRank.size === 0) return;
  const cols = [column(ctx, 'q'), column(ctx, 'o')];
  const boxes = labels.map((l) => labelBox(l, ctx.k));
  let first = true;
  for (const r of labelledLanes(L)) {
    const lane = L.lanes[r];
    const heads = byRank.get(r);
    if (!lane || !heads || lane.h < 11 * ctx.k) continue;
    const range = heads.end - heads.start === 1 ? `${heads.start}` : `${heads.start}–${heads.end - 1}`;
    const variants = first ? [`heads ${range} of ${total}`, `heads ${range}`, `h${range}`] : [`heads ${range}`, `h${range}`];
    let placed: { label: Label; box: ReturnType<typeof labelBox> } | null = null;
    for (const col of cols) {
      const text = fitText(variants, col.w * 0.5, 11);
      if (textWidth(text, 11) > col.w * 0.5) continue;
      const label: Label = { text, x: col.x + col.w - 3, y: lane.y + lane.h / 2, align: 'r', cls: 'ss-small ss-note ss-vm ss-heads', title: `Rank ${r} holds query heads ${range} of ${total} in this step: the lane's height is the head axis (top = head 0).` };
      const b = labelBox(label, ctx.k);
      if (boxes.some((o) => o.x0 < b.x1 && b.x0 < o.x1 && o.y0 < b.y1 && b.y0 < o.y1)) continue;
      placed = { label, box: b };
      break;
    }
    if (!placed) continue;
    const { label, box: b } = placed;
    labels.push(label);
    boxes.push(b);
    first = false;
  }
}
