// The scene's DOM layer over the canvas: title, lane/column/matrix labels, the caption, the
// softmax or loss panel, the explanation notes. Text goes in through textContent only.
// Labels are also kept as data so captureFrame() can paint them into the exported PNG.

import type { Rect } from './layout.ts';

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
}

export class OverlayDom {
  readonly root: HTMLElement;
  readonly header: HTMLElement;
  readonly title: HTMLElement;
  readonly subtitle: HTMLElement;
  readonly labels: HTMLElement;
  readonly panel: HTMLElement;
  readonly footer: HTMLElement;
  readonly caption: HTMLElement;
  readonly badge: HTMLElement;
  readonly controlsSlot: HTMLElement;
  readonly notes: HTMLElement;
  readonly notesButton: HTMLButtonElement;
  readonly invalid: HTMLElement;
  #labels: Label[] = [];
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
    this.title = el('span', 'ss-title', this.header);
    this.subtitle = el('span', 'ss-subtitle', this.header);
    this.labels = el('div', 'ss-labels');
    this.labels.setAttribute('aria-hidden', 'true');
    this.panel = el('div', 'ss-panel');
    this.invalid = el('div', 'ss-invalid');
    this.invalid.setAttribute('role', 'status');
    this.invalid.hidden = true;
    this.footer = el('div', 'ss-footer');
    const captionRow = el('div', 'ss-caption-row', this.footer);
    this.badge = el('span', 'ss-badge', captionRow);
    this.caption = el('span', 'ss-caption', captionRow);
    this.caption.setAttribute('aria-live', 'polite');
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

  setLabels(labels: Label[]): void {
    this.#labels = labels;
    const frag = document.createDocumentFragment();
    for (const l of labels) {
      const e = document.createElement('span');
      e.className = `ss-label ss-a${l.align ?? 'l'}${l.cls ? ` ${l.cls}` : ''}`;
      e.textContent = l.text;
      e.style.left = `${l.x}px`;
      e.style.top = `${l.y}px`;
      if (l.color) e.style.color = l.color;
      if (l.size) e.style.fontSize = `${l.size}px`;
      if (l.bold) e.style.fontWeight = '600';
      frag.append(e);
    }
    this.labels.replaceChildren(frag);
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
