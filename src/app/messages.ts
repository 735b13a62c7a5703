// Visible, dismissable messages (bad URL values, invalid strategy choices, GPU trouble).
// Text only: nothing here ever goes through innerHTML, since much of it quotes the URL.

export type MessageLevel = 'info' | 'warning' | 'error';

export interface MessageAction {
  readonly label: string;
  readonly run: () => void;
}

export class Messages {
  readonly #root: HTMLElement;
  readonly #byKey = new Map<string, HTMLElement>();
  readonly #listeners = new Set<(keys: readonly string[]) => void>();

  constructor(root: HTMLElement) {
    this.#root = root;
  }

  /** Shows a message; a message with the same key replaces the previous one. */
  show(key: string, level: MessageLevel, text: string, action?: MessageAction): void {
    this.dismiss(key);
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
    this.#emit();
  }

  dismiss(key: string): void {
    this.#byKey.get(key)?.remove();
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

  keys(): string[] {
    return [...this.#byKey.keys()];
  }
}
