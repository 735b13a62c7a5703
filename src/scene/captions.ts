// Words around the picture: the title row, the step's badge and caption, and the Explain notes
// (how to say it, misconceptions, and the framework knobs).

import type { Step, ValidSchedule } from '../model/schedule.ts';
import { setText, type SceneContext } from './context.ts';
import { formatTokens } from './layout.ts';
import { MISCONCEPTIONS, READING_KEY, narrationFor } from './narration.ts';
import { text, textWidth } from './overlay.ts';

export const CAPTION_FONT = 12.5;
export const CAPTION_LINE = 16;

/** "forward · ring send/recv": the phase and the collectives of a step. */
export function badgeText(step: Step): string {
  const kinds = [...new Set(step.collectives.map((c) => c.label))];
  return `${step.phase}${kinds.length ? ` · ${kinds.join(' · ')}` : ' · compute only'}`;
}

/** The caption shown for a step: the one-line form on a slide, the full narration otherwise. */
export function captionOf(step: Step, present: boolean): string {
  return present ? (step.short ?? step.caption) : step.caption;
}

/** Widest badge + caption of the schedule, in px at `font` (unscaled px): sizes the footer. */
export function captionWidth(schedule: ValidSchedule, present = false, font = CAPTION_FONT): number {
  // Measuring every step's text (130 at 64 ranks, each new to the width cache) cost more than the
  // rest of a parameter change: measure the longest few by characters, which hold the widest.
  const texts = schedule.steps.map((st) => ({ badge: present ? '' : badgeText(st), caption: captionOf(st, present) }));
  const longest = [...texts].sort((a, b) => b.badge.length + b.caption.length - (a.badge.length + a.caption.length)).slice(0, 6);
  let w = 0;
  for (const t of longest) w = Math.max(w, (present ? 0 : textWidth(t.badge, 11, true) + 18) + textWidth(t.caption, font));
  return w;
}

/**
 * The big counter on a slide: "ROUND 3 / 8" within the step's phase (the ring's third send/recv
 * round of eight), the phase beside it, and the step in the URL's 1-based numbering ("step 3 of 19",
 * the same number as the controls' counter and the URL `step` key) as its tooltip. A phase of one
 * step (the loss) shows the phase alone. Pure.
 */
export function roundText(schedule: ValidSchedule, stepIndex: number): { phase: string; round: string; title: string } {
  const step = schedule.steps[stepIndex];
  if (!step) return { phase: '', round: '', title: '' };
  const same = schedule.steps.filter((s) => s.phase === step.phase);
  const i = same.indexOf(step);
  const title = `${step.phase} round ${i + 1} of ${same.length} · step ${stepIndex + 1} of ${schedule.steps.length}`;
  if (same.length === 1) return { phase: '', round: step.phase.toUpperCase(), title };
  return { phase: step.phase, round: `ROUND ${i + 1} / ${same.length}`, title };
}

/** The step's badge and caption, and `note`: what is aggregated or not drawn ('' when nothing). */
export function renderCaption(ctx: SceneContext, stepIndex: number, note = ''): void {
  const { dom, model: m } = ctx;
  setText(dom.aggregate, note ? ` (${note})` : '');
  if (!m) {
    setText(dom.caption, ctx.invalidReason ?? '');
    setText(dom.badge, '');
    return;
  }
  const step = m.schedule.steps[stepIndex];
  setText(dom.caption, step ? captionOf(step, ctx.present) : '');
  dom.captionRow.title = ctx.present && step ? step.caption : '';
  setText(dom.badge, step ? badgeText(step) : '');
  const round = ctx.present ? roundText(m.schedule, stepIndex) : { phase: '', round: '', title: '' };
  setText(dom.roundPhase, round.phase);
  setText(dom.roundCount, round.round);
  if (dom.round.title !== round.title) dom.round.title = round.title;
  const phase = step?.phase ?? '';
  if (dom.badge.dataset.phase !== phase) dom.badge.dataset.phase = phase;
}

export function renderHeader(ctx: SceneContext, strategyTitle: string): void {
  const { dom, model: m } = ctx;
  if (!m) {
    setText(dom.title, strategyTitle);
    setText(dom.subtitle, '');
    return;
  }
  const p = m.params;
  setText(dom.title, narrationFor(m.schedule.strategy).title);
  setText(dom.subtitle, ` · ${m.schedule.ranks} rank${m.schedule.ranks === 1 ? '' : 's'} · ${formatTokens(m.schedule.seq)} tokens · ${p.heads} heads (${p.kvHeads} K/V)`);
  dom.header.title = `${dom.title.textContent}${dom.subtitle.textContent}`;
}

export function renderNotes(ctx: SceneContext): void {
  const { dom, model: m } = ctx;
  dom.notes.replaceChildren();
  if (!m) return;
  const n = narrationFor(m.schedule.strategy);
  text(dom.notes, 'h3', n.title);
  text(dom.notes, 'h4', 'Say it out loud');
  text(dom.notes, 'p', n.sayIt);
  text(dom.notes, 'p', n.stateAndAxis, 'ss-state');
  text(dom.notes, 'h4', 'Reading the picture');
  const key = document.createElement('ul');
  for (const line of READING_KEY) text(key, 'li', line);
  dom.notes.append(key);
  text(dom.notes, 'h4', 'Common misconceptions');
  const ul = document.createElement('ul');
  for (const mc of MISCONCEPTIONS) text(ul, 'li', mc);
  dom.notes.append(ul);
  text(dom.notes, 'h4', 'From picture to code');
  const dl = document.createElement('dl');
  for (const k of n.knobs) {
    text(dl, 'dt', k.framework);
    const dd = document.createElement('dd');
    text(dd, 'code', k.code);
    if (k.note) text(dd, 'div', k.note, 'ss-small-block');
    dl.append(dd);
  }
  dom.notes.append(dl);
}

/** Presentation mode: a key for every colour the stage uses (the token ramp has its own row). */
export function renderLegendKey(ctx: SceneContext, at: { x: number; y: number; w: number; h: number } | null): void {
  const key = ctx.dom.legendKey;
  const show = ctx.present && ctx.model !== null && at !== null && at.h >= 16 * ctx.k;
  key.hidden = !show;
  if (!show || !at) return;
  ctx.dom.place(key, at);
  const ink = ctx.palette.highlight;
  const css = (c: readonly number[]): string => `rgb(${c.map((v) => Math.round(v * 255)).join(',')})`;
  const items: [string, string][] = [
    [`linear-gradient(90deg, ${['#e69f00', '#56b4e9', '#009e73', '#f0e442'].join(',')})`, 'rank (matrix, bars)'],
    [`${css(ctx.palette.lane)}; outline: 1px solid ${css(ink)}`, 'moving block'],
    ['repeating-linear-gradient(120deg, #cc79a7 0 3px, transparent 3px 5px)', 'gradient dK, dV'],
    [css(ctx.palette.emptyEdge), 'idle / not yet'],
  ];
  key.replaceChildren();
  // As many items as fit: one per row in a narrow column, else side by side.
  const column = at.w < 420 * ctx.k;
  key.style.flexDirection = column ? 'column' : 'row';
  key.style.gap = column ? '0' : '';
  const rows = Math.floor(at.h / (15 * ctx.k));
  const shown = column ? items.slice(0, Math.max(0, rows)) : items;
  for (const [swatch, label] of shown) {
    const item = document.createElement('span');
    const i = document.createElement('i');
    i.style.background = swatch; // CSSOM, not a style attribute: the page's CSP refuses inline styles
    item.append(i, document.createTextNode(label));
    key.append(item);
  }
}
