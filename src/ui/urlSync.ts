// The one owner of the page's hash. State → URL writes are throttled (a slider drag or playback
// would otherwise call replaceState dozens of times a second), and that delay opens a race: a hash
// set by the user or a host page after the state was last written, but before its `hashchange`
// event has run, would be overwritten by the stale write and lost (issue 13, item 3).
// So the owner remembers the hash it last read or wrote. Before writing, it compares: a hash it
// does not know arrived from outside, and is applied instead of overwritten. `hashchange` goes
// through the same check, so a hash is applied once, whichever of the two sees it first.
// Pure of the DOM (the host is injected), so the race is unit-tested in node.

export interface UrlHost {
  /** The current hash, with its '#', as `location.hash` reports it ('' when there is none). */
  readonly hash: string;
  /** Replaces the hash without a history entry or a hashchange event (history.replaceState). */
  replaceHash(hash: string): void;
}

export interface UrlOwnerOptions {
  readonly host: UrlHost;
  /** The hash text (without '#') for the current state. */
  readonly serialize: () => string;
  /** A hash the owner did not write arrived: read the state from it. */
  readonly onExternal: (hash: string) => void;
  /** After each write (also when the hash was already right). */
  readonly onWritten?: () => void;
  /** Delay of state → URL writes, ms: at most one write per delay. */
  readonly delayMs?: number;
  readonly timers?: { set: (fn: () => void, ms: number) => unknown; clear: (handle: unknown) => void };
}

export class UrlOwner {
  readonly #options: UrlOwnerOptions;
  readonly #delayMs: number;
  readonly #timers: NonNullable<UrlOwnerOptions['timers']>;
  /** The hash last read or written by the owner, as the host reports it. */
  #known: string;
  #timer: unknown;
  #pending = false;

  constructor(options: UrlOwnerOptions) {
    this.#options = options;
    this.#delayMs = options.delayMs ?? 60;
    this.#timers = options.timers ?? { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
    this.#known = options.host.hash;
  }

  /** Reads a hash that arrived from outside, if any; returns whether there was one. Call on hashchange. */
  poll(): boolean {
    const hash = this.#options.host.hash;
    if (hash === this.#known) return false;
    this.#known = hash;
    this.#options.onExternal(hash);
    return true;
  }

  /**
   * Asks for the URL to follow the state within the delay. A write already due is not postponed
   * (it serialises the state when it runs), so a stream of changes cannot starve the URL.
   */
  schedule(): void {
    this.#pending = true;
    if (this.#timer !== undefined) return;
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#delayMs);
  }

  /** Writes now if a write is pending. An unread external hash wins: it is applied, not overwritten. */
  flush(): void {
    if (!this.#pending) return;
    this.#pending = false;
    // Applying an external hash changes the state, which schedules (from onExternal) the write of that new state.
    if (this.poll()) return;
    const host = this.#options.host;
    const next = `#${this.#options.serialize()}`;
    if (host.hash !== next) host.replaceHash(next);
    this.#known = host.hash;
    this.#options.onWritten?.();
  }

  get pending(): boolean {
    return this.#pending;
  }

  dispose(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.#pending = false;
  }
}
