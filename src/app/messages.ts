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
  }

  dismiss(key: string): void {
    this.#byKey.get(key)?.remove();
    this.#byKey.delete(key);
  }

  keys(): string[] {
    return [...this.#byKey.keys()];
  }
}
