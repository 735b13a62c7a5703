// Visible, dismissable messages (bad URL values, invalid strategy choices, GPU trouble).
// Text only: nothing here ever goes through innerHTML, since much of it quotes the URL.

/**
 * Browser warnings that reach window.onerror but are harmless, so never an error banner.
 * ResizeObserver's loop warning fires when an observer's callback changes a layout in the same frame
 * (the spec defers the rest to the next frame): https://github.com/WICG/resize-observer/issues/38
 */
const BENIGN_ERRORS: readonly string[] = ['ResizeObserver loop completed with undelivered notifications', 'ResizeObserver loop limit exceeded'];

export function isBenignError(message: string): boolean {
  return BENIGN_ERRORS.some((benign) => message.includes(benign));
}

/** Longest message shown; longer text (e.g. a huge exception) is cut, so a banner stays readable. */
const MAX_MESSAGE_LENGTH = 600;

/**
 * One sentence as shown: trimmed, at most MAX_MESSAGE_LENGTH characters, ending in exactly one
 * full stop (or ? ! …), so "reason." + "." never reads "reason..". No regex: text may quote a URL.
 */
export function sentence(text: string): string {
  let t = text.trim();
  if (t.length > MAX_MESSAGE_LENGTH) t = `${t.slice(0, MAX_MESSAGE_LENGTH - 1).trimEnd()}…`;
  let end = t.length;
  while (end > 0 && t[end - 1] === '.') end--;
  t = t.slice(0, end);
  const last = t[t.length - 1];
  return last === '?' || last === '!' || last === '…' ? t : `${t}.`;
}

export type MessageLevel = 'info' | 'warning' | 'error';

export interface MessageAction {
  readonly label: string;
  readonly run: () => void;
}

export class Messages {
  readonly #root: HTMLElement;
  readonly #byKey = new Map<string, HTMLElement>();
  readonly #listeners = new Set<(keys: readonly string[]) => void>();
  readonly #textByKey = new Map<string, string>();

  constructor(root: HTMLElement) {
    this.#root = root;
  }

  /**
   * Shows a message as one sentence; a message with the same key replaces the previous one, and
   * one with the same text as another key's moves that one here (each text is on screen once).
   */
  show(key: string, level: MessageLevel, message: string, action?: MessageAction): void {
    const text = sentence(message);
    this.dismiss(key);
    for (const [other, shown] of [...this.#textByKey]) if (shown === text) this.dismiss(other);
    const item = document.createElement('div');
    item.className = `message message-${level}`;
    item.dataset.key = key;
    item.setAttribute('role', level === 'error' ? 'alert' : 'status');
    const body = document.createElement('span');
    body.textContent = text;
    item.append(body);
    if (action) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = action.label;
      button.addEventListener('click', action.run);
      item.append(button);
    }
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'message-close';
    close.setAttribute('aria-label', 'Dismiss');
    close.textContent = '×';
    close.addEventListener('click', () => this.dismiss(key));
    item.append(close);
    this.#root.append(item);
    this.#byKey.set(key, item);
    this.#textByKey.set(key, text);
    this.#emit();
  }

  dismiss(key: string): void {
    this.#byKey.get(key)?.remove();
    this.#textByKey.delete(key);
    if (this.#byKey.delete(key)) this.#emit();
  }

  /** Called with the shown keys whenever a message comes or goes (the embed's message mark). */
  subscribe(listener: (keys: readonly string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(): void {
    const keys = this.keys();
    for (const l of this.#listeners) l(keys);
  }

  /** The text shown under a key (as `sentence` made it), if any. */
  text(key: string): string | undefined {
    return this.#textByKey.get(key);
  }

  keys(): string[] {
    return [...this.#byKey.keys()];
  }
}
