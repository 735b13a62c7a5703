// The scene's DOM layer over the canvas: title, lane/column/matrix labels, the caption, the
// softmax or loss panel, the explanation notes. Text goes in through textContent only.
// Labels are also kept as data so captureFrame() can paint them into the exported PNG.

import type { Rect } from './layout.ts';
import { setText } from '../ui/dom.ts';

export interface Label {
  readonly text: string;
  readonly x: number;
  readonly y: number;
  /** 'l' left, 'r' right, 'c' centre (horizontal anchor at x). */
  readonly align?: 'l' | 'r' | 'c';
  readonly cls?: string;
  readonly color?: string;
  readonly size?: number;
  readonly bold?: boolean;
  /** Tooltip (title attribute): the long form of a short label. Makes the label hoverable. */
  readonly title?: string;
  /** Never wider than this (px): clipped with an ellipsis as a last resort. */
  readonly maxW?: number;
}

/** What a reused label node currently shows, so unchanged properties are not written again. */
interface LabelNode {
  readonly e: HTMLSpanElement;
  cls: string;
  text: string;
  x: number;
  y: number;
  color: string;
  size: number;
  bold: boolean;
  title: string;
  maxW: number;
  shown: boolean;
}

let measureCtx: CanvasRenderingContext2D | null | undefined;
/** The overlay's type scale (CSS --ss-k): every size passed to textWidth is multiplied by it. */
let textScale = 1;

export function setTextScale(k: number): void {
  textScale = k;
}
const widthCache = new Map<string, number>();

/**
 * Width in px of `text` in the overlay's font at `size` px (bold or not), via a 2D canvas: no DOM
 * layout. Cached; falls back to an estimate where there is no 2D context.
 */
export function textWidth(text: string, baseSize: number, bold = false): number {
  const size = baseSize * textScale;
  const key = `${size}|${bold ? 1 : 0}|${text}`;
  const hit = widthCache.get(key);
  if (hit !== undefined) return hit;
  if (measureCtx === undefined) measureCtx = typeof document === 'undefined' ? null : document.createElement('canvas').getContext('2d');
  let w: number;
  if (measureCtx) {
    measureCtx.font = `${bold ? '600 ' : ''}${size}px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif`;
    w = measureCtx.measureText(text).width;
  } else {
    w = text.length * size * 0.56;
  }
  // A little slack for font differences between the canvas and the DOM.
  w = Math.ceil(w * 1.04 + 1);
  if (widthCache.size > 4000) widthCache.clear();
  widthCache.set(key, w);
  return w;
}

/** The first of `variants` that fits in `width` px at `size` px, else the last one. */
export function fitText(variants: readonly string[], width: number, size: number, bold = false): string {
  for (const v of variants) if (textWidth(v, size, bold) <= width) return v;
  return variants[variants.length - 1] ?? '';
}

export class OverlayDom {
  readonly root: HTMLElement;
  readonly header: HTMLElement;
  /** Presentation mode: the big "ROUND 3 / 8" counter at the header's right, with its phase. */
  readonly round: HTMLElement;
  readonly roundPhase: HTMLElement;
  readonly roundCount: HTMLElement;
  /** Presentation mode: a key for every colour on screen. */
  readonly legendKey: HTMLElement;
  readonly title: HTMLElement;
  readonly subtitle: HTMLElement;
  readonly labels: HTMLElement;
  readonly panel: HTMLElement;
  readonly footer: HTMLElement;
  readonly caption: HTMLElement;
  readonly badge: HTMLElement;
  /** What the picture aggregates or leaves out this step (never a silent drop). */
  readonly aggregate: HTMLElement;
  readonly captionRow: HTMLElement;
  readonly controlsSlot: HTMLElement;
  readonly notes: HTMLElement;
  readonly notesButton: HTMLButtonElement;
  readonly invalid: HTMLElement;
  #labels: Label[] = [];
  readonly #nodes: LabelNode[] = [];
  readonly #created: HTMLElement[] = [];

  constructor(root: HTMLElement) {
    this.root = root;
    root.textContent = '';
    root.classList.add('ss-overlay');
    const el = (tag: string, cls: string, parent: HTMLElement = root): HTMLElement => {
      const e = document.createElement(tag);
      e.className = cls;
      parent.append(e);
      if (parent === root) this.#created.push(e);
      return e;
    };
    this.header = el('div', 'ss-header');
    this.round = el('span', 'ss-round', this.header);
    this.roundPhase = el('span', 'ss-round-phase', this.round);
    this.roundCount = el('span', 'ss-round-count', this.round);
    this.title = el('span', 'ss-title', this.header);
    this.subtitle = el('span', 'ss-subtitle', this.header);
    this.labels = el('div', 'ss-labels');
    this.legendKey = el('div', 'ss-legend-key');
    this.legendKey.hidden = true;
    this.panel = el('div', 'ss-panel');
    this.invalid = el('div', 'ss-invalid');
    this.invalid.setAttribute('role', 'status');
    this.invalid.hidden = true;
    this.footer = el('div', 'ss-footer');
    this.captionRow = el('div', 'ss-caption-row', this.footer);
    this.badge = el('span', 'ss-badge', this.captionRow);
    this.caption = el('span', 'ss-caption', this.captionRow);
    this.caption.setAttribute('aria-live', 'polite');
    this.aggregate = el('span', 'ss-aggregate', this.captionRow);
    const controlsRow = el('div', 'ss-controls-row', this.footer);
    this.controlsSlot = el('div', 'ss-controls-slot', controlsRow);
    this.notesButton = document.createElement('button');
    this.notesButton.type = 'button';
    this.notesButton.className = 'ss-btn ss-notes-btn';
    this.notesButton.textContent = 'Explain';
    this.notesButton.setAttribute('aria-expanded', 'false');
    controlsRow.append(this.notesButton);
    this.notes = el('div', 'ss-notes');
    this.notes.hidden = true;
    this.notes.setAttribute('role', 'region');
    this.notes.setAttribute('aria-label', 'How to say it, misconceptions, and the code');
    this.notesButton.addEventListener('click', () => {
      this.notes.hidden = !this.notes.hidden;
      this.notesButton.setAttribute('aria-expanded', String(!this.notes.hidden));
      this.notesButton.textContent = this.notes.hidden ? 'Explain' : 'Close';
    });
  }

  place(element: HTMLElement, r: Rect): void {
    element.style.left = `${r.x}px`;
    element.style.top = `${r.y}px`;
    element.style.width = `${r.w}px`;
    element.style.height = `${r.h}px`;
  }

  /**
   * Shows `labels`, reusing the span of the same index: only changed text, position, class or
   * style is written, and spare spans are hidden, so a step change costs little DOM work.
   */
  setLabels(labels: Label[]): void {
    this.#labels = labels;
    const nodes = this.#nodes;
    while (nodes.length < labels.length) {
      const e = document.createElement('span');
      this.labels.append(e);
      nodes.push({ e, cls: '', text: '', x: NaN, y: NaN, color: '', size: 0, bold: false, title: '', maxW: 0, shown: true });
    }
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i] as LabelNode;
      const l = labels[i];
      if (!l) {
        if (n.shown) {
          n.e.hidden = true;
          n.shown = false;
        }
        continue;
      }
      if (!n.shown) {
        n.e.hidden = false;
        n.shown = true;
      }
      const cls = `ss-label ss-a${l.align ?? 'l'}${l.cls ? ` ${l.cls}` : ''}${l.title ? ' ss-tip' : ''}${l.maxW ? ' ss-fit' : ''}`;
      if (n.cls !== cls) {
        n.e.className = n.cls = cls;
        // Rank labels open the rank inspector (./inspector.ts): reachable by keyboard.
        const rank = cls.includes('ss-rank');
        n.e.tabIndex = rank ? 0 : -1;
        if (rank) n.e.setAttribute('role', 'button');
        else n.e.removeAttribute('role');
      }
      if (n.text !== l.text) setText(n.e, (n.text = l.text));
      if (n.x !== l.x) {
        n.x = l.x;
        n.e.style.left = `${l.x}px`;
      }
      if (n.y !== l.y) {
        n.y = l.y;
        n.e.style.top = `${l.y}px`;
      }
      const color = l.color ?? '';
      if (n.color !== color) n.e.style.color = n.color = color;
      const size = l.size ?? 0;
      if (n.size !== size) {
        n.size = size;
        n.e.style.fontSize = size ? `${size}px` : '';
      }
      const bold = l.bold ?? false;
      if (n.bold !== bold) {
        n.bold = bold;
        n.e.style.fontWeight = bold ? '600' : '';
      }
      const title = l.title ?? '';
      if (n.title !== title) {
        n.title = title;
        if (title) n.e.title = title;
        else n.e.removeAttribute('title');
      }
      const maxW = l.maxW ?? 0;
      if (n.maxW !== maxW) {
        n.maxW = maxW;
        n.e.style.maxWidth = maxW ? `${Math.max(0, maxW)}px` : '';
      }
    }
  }

  get labelData(): readonly Label[] {
    return this.#labels;
  }

  dispose(): void {
    for (const e of this.#created) e.remove();
    this.root.classList.remove('ss-overlay');
  }
}

/** Appends <tag class>text</tag> to parent and returns it. */
export function text(parent: HTMLElement, tag: string, content: string, cls?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  e.textContent = content;
  parent.append(e);
  return e;
}

/** Line height of the DOM panels' small text. */
export const PANEL_LINE = 15;

/** Lines `t` takes at `size` px in `w` px (word wrap wastes a little of each line). */
export function linesOf(t: string, size: number, w: number, bold = false): number {
  return Math.max(1, Math.ceil((textWidth(t, size, bold) * 1.08) / Math.max(40, w)));
}
