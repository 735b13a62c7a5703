// The rank inspector: click a rank's label (or focus it and press Enter) and a small panel says
// what that rank holds, computes, sends and receives in this step, with its running softmax m and
// l where the verification run traced that rank. The text is pure (inspectRank); the panel is DOM.

import { formatBytes } from '../model/format.ts';
import { memoryAtStep } from '../model/pricedCodec.ts';
import type { TokenSet } from '../model/schedule.ts';
import type { SceneContext, ScenePlan } from './context.ts';
import { formatTokens } from './layout.ts';
import { softmaxRows } from './softmax.ts';
import { text } from './overlay.ts';

function fmtSet(set: TokenSet): string {
  const parts = set.filter((s) => s.count > 0).map((s) => (s.stride === 1 ? `${formatTokens(s.start)}–${formatTokens(s.start + s.count - 1)}` : `every ${s.stride}th from ${formatTokens(s.start)} (${formatTokens(s.count)} tokens)`));
  return parts.length ? parts.join(' + ') : 'nothing';
}

/** Lines describing rank `rank` at step `stepIndex`. Pure. */
export function inspectRank(ctx: Pick<SceneContext, 'model' | 'verification'> & Partial<Pick<SceneContext, 'plan'>>, stepIndex: number, rank: number): { title: string; lines: string[] } {
  const m = ctx.model;
  if (!m) return { title: `rank ${rank}`, lines: [] };
  const s = m.schedule;
  const step = s.steps[stepIndex];
  const held = (m.holdings[stepIndex] ?? []).filter((h) => h.rank === rank);
  const q = held.find((h) => h.column === 'q');
  const kv = held.find((h) => h.column === 'kv');
  const lines: string[] = [];
  if (q) lines.push(`Q tokens: ${fmtSet(q.tokens)}${q.heads.end - q.heads.start < m.params.heads ? ` · heads ${q.heads.start}–${q.heads.end - 1}` : ''}`);
  if (kv) lines.push(`K/V held: ${fmtSet(kv.tokens)}`);
  const rc = step?.compute.find((c) => c.rank === rank);
  if (rc) {
    const pairs = rc.tiles.reduce((a, t) => a + t.pairs, 0);
    const masks = new Set(rc.tiles.filter((t) => t.pairs > 0).map((t) => t.mask));
    const owner = (set: TokenSet): string => {
      const first = set.find((x) => x.count > 0);
      const r = first ? s.shards.findIndex((sh) => sh.tokens.some((g) => g.start <= first.start && first.start < g.start + g.count * g.stride)) : -1;
      return r >= 0 ? String(r) : '?';
    };
    lines.push(pairs > 0 ? `computes Q${owner(rc.q)} · K${owner(rc.kv)}ᵀ, ${masks.has('causal') ? 'causal mask' : 'no mask needed'} (${formatTokens(pairs)} pairs per head)` : 'idle: its block is fully masked');
  } else lines.push(step?.phase === 'loss' ? 'computes its local loss' : 'no attention compute in this step');
  const tracks = m.tracks[stepIndex] ?? [];
  const sum = (xs: typeof tracks): number => xs.reduce((a, t) => a + t.bytes, 0);
  const out = tracks.filter((t) => t.src === rank && !t.local);
  const inn = tracks.filter((t) => t.dst === rank && !t.local);
  const names = (xs: typeof tracks, end: 'src' | 'dst'): string => [...new Set(xs.map((t) => `r${t[end]}`))].slice(0, 6).join(', ') + (new Set(xs.map((t) => t[end])).size > 6 ? ', …' : '');
  if (out.length) lines.push(`sends ${[...new Set(out.map((t) => t.tensor))].join(',')} to ${names(out, 'dst')}: ${formatBytes(sum(out))}`);
  if (inn.length) lines.push(`receives ${[...new Set(inn.map((t) => t.tensor))].join(',')} from ${names(inn, 'src')}: ${formatBytes(sum(inn))}`);
  if (!out.length && !inn.length) lines.push('no communication in this step');
  lines.push(...memoryLines(ctx.plan ?? null, s, stepIndex, rank));
  const row = softmaxRows(s, rank, ctx.verification?.softmaxTrace ?? null).find((r) => r.step === stepIndex);
  if (row && row.m !== null) lines.push(`running softmax (GPU trace): m = ${row.m.toPrecision(4)}, l = ${row.l?.toPrecision(4) ?? '—'}`);
  return { title: `rank ${rank} · step ${stepIndex + 1} of ${s.steps.length}`, lines };
}

const CATEGORY_NAMES: readonly [keyof ScenePlan['perRank'][number]['memory']['atPeak'], string][] = [
  ['weights', 'weights'],
  ['grads', 'grads'],
  ['optimizer', 'optimizer'],
  ['activations', 'activations'],
  ['kvWorkingSet', 'K/V'],
  ['scores', 'scores'],
  ['logits', 'logits'],
];

/** The rank's modelled memory at this step and at its busiest step (the plan's per-rank data), when the plan is the one of this schedule. Pure. */
export function memoryLines(plan: ScenePlan | null, schedule: unknown, stepIndex: number, rank: number): string[] {
  const r = plan && plan.schedule === schedule ? plan.perRank[rank] : undefined;
  if (!plan || !r) return [];
  const now = memoryAtStep(r, stepIndex);
  const cap = plan.gpu.memoryBytes;
  const pct = (b: number): string => `${Math.round((100 * b) / cap)}%`;
  const out: string[] = [];
  if (now !== undefined) out.push(`memory at this step: ${formatBytes(now)} (${pct(now)} of the ${plan.gpu.name}'s ${formatBytes(cap)})${now > cap ? ', over capacity' : ''}`);
  const peak = r.memory;
  const parts = CATEGORY_NAMES.filter(([k]) => peak.atPeak[k] > 0).map(([k, name]) => `${name} ${formatBytes(peak.atPeak[k])}`);
  out.push(`busiest step ${peak.peakStep + 1}: ${formatBytes(peak.peak)} = ${parts.join(' + ')}`);
  return out;
}

export interface Inspector {
  /** Opens (or moves) the panel for a rank; null closes it. */
  show(rank: number | null): void;
  /** Refreshes the open panel for a new step. */
  refresh(stepIndex: number): void;
  readonly rank: number | null;
}

export function createInspector(ctx: SceneContext): Inspector {
  const box = document.createElement('div');
  box.className = 'ss-inspector';
  box.hidden = true;
  box.setAttribute('role', 'dialog');
  box.setAttribute('aria-label', 'Rank inspector');
  ctx.dom.root.append(box);
  let rank: number | null = null;
  let step = 0;
  const render = (): void => {
    if (rank === null || !ctx.model) {
      box.hidden = true;
      return;
    }
    const info = inspectRank(ctx, step, rank);
    box.replaceChildren();
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'ss-btn ss-inspector-close';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Close the rank inspector');
    close.addEventListener('click', () => api.show(null));
    box.append(close);
    text(box, 'div', info.title, 'ss-panel-title');
    for (const l of info.lines) text(box, 'div', l, 'ss-small-block');
    const lane = ctx.layout.lanes[rank];
    const L = ctx.layout;
    const colsRight = (L.columns[2]?.x ?? 0) + (L.columns[2]?.w ?? 0);
    box.style.left = `${L.columns[0]?.x ?? 0}px`;
    box.style.width = `${Math.max(200, colsRight - (L.columns[0]?.x ?? 0))}px`;
    // Below the rank's lane when there is room, else above it; never past the frame (it scrolls).
    const below = (lane?.y ?? 0) + (lane?.h ?? 0) + 4;
    const roomBelow = L.footer.y - below;
    const roomAbove = (lane?.y ?? 0) - 4;
    const under = roomBelow >= 140 || roomBelow >= roomAbove;
    box.style.top = under ? `${below}px` : '';
    box.style.bottom = under ? '' : `${L.height - (lane?.y ?? 0) + 4}px`;
    box.style.maxHeight = `${Math.max(60, under ? roomBelow : roomAbove)}px`;
    box.style.overflowY = 'auto';
    box.hidden = false;
  };
  const api: Inspector = {
    show(r) {
      rank = r;
      render();
    },
    refresh(stepIndex) {
      step = stepIndex;
      if (rank !== null) render();
    },
    get rank() {
      return rank;
    },
  };
  // A click or Enter on a rank label ("rank 3" / "r3") opens it; Escape closes.
  ctx.dom.labels.addEventListener('click', (e) => {
    const r = (e.target as HTMLElement).closest('.ss-rank')?.textContent?.match(/\d+/)?.[0];
    if (r !== undefined) api.show(Number(r));
  });
  ctx.dom.labels.addEventListener('keydown', (e) => {
    const r = (e.target as HTMLElement).closest('.ss-rank')?.textContent?.match(/\d+/)?.[0];
    if (e.key === 'Enter' && r !== undefined) {
      api.show(Number(r));
      e.preventDefault();
    }
  });
  ctx.dom.root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && rank !== null) api.show(null);
  });
  return api;
}
