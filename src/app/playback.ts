// Playback of a schedule: a position in steps that the scene reads every frame.
// Pure (no DOM): the UI and the keyboard call its methods; main's frame loop calls advance().
// `position` is fractional: step k is shown while k ≤ position < k+1, and the fraction is the
// progress of that step's animation.

export interface PlaybackState {
  readonly step: number;
  readonly stepCount: number;
  readonly playing: boolean;
}

export class Playback {
  /** Steps per second. */
  speed = 0.5;
  loop = true;
  /** With prefers-reduced-motion, positions snap to whole steps (no tweening). */
  reducedMotion = false;
  #position = 0;
  #stepCount = 1;
  #playing = false;
  readonly #listeners = new Set<(state: PlaybackState) => void>();

  get position(): number {
    return this.#position;
  }
  get step(): number {
    return Math.min(this.#stepCount - 1, Math.floor(this.#position));
  }
  /** Progress within the current step, 0..1 (always 1 with reduced motion: the step's end state). */
  get progress(): number {
    return this.reducedMotion ? 1 : this.#position - Math.floor(this.#position);
  }
  get stepCount(): number {
    return this.#stepCount;
  }
  get playing(): boolean {
    return this.#playing;
  }
  get state(): PlaybackState {
    return { step: this.step, stepCount: this.#stepCount, playing: this.#playing };
  }

  setStepCount(count: number): void {
    this.#stepCount = Math.max(1, Math.floor(count));
    if (this.#position >= this.#stepCount) this.#position = this.#stepCount - 1;
    this.#emit();
  }

  play(): void {
    if (this.#playing) return;
    if (this.step >= this.#stepCount - 1 && !this.loop) this.#position = 0;
    this.#playing = true;
    this.#emit();
  }
  pause(): void {
    if (!this.#playing) return;
    this.#playing = false;
    this.#emit();
  }
  toggle(): void {
    if (this.#playing) this.pause();
    else this.play();
  }
  /** Jumps to the start of a step (clamped); pauses, as a user scrubbing expects. */
  seek(step: number): void {
    this.#playing = false;
    this.#position = Math.max(0, Math.min(this.#stepCount - 1, Math.floor(step)));
    this.#emit();
  }
  next(): void {
    this.seek(this.step + 1);
  }
  previous(): void {
    this.seek(this.step - 1);
  }
  restart(): void {
    this.seek(0);
  }

  /** Advances by dt seconds of wall time while playing. Called once per frame. */
  advance(dt: number): void {
    if (!this.#playing || dt <= 0) return;
    const before = this.step;
    let next = this.#position + dt * this.speed;
    if (next >= this.#stepCount) {
      if (this.loop) next %= this.#stepCount;
      else {
        next = this.#stepCount - 1 + 0.999;
        this.#playing = false;
      }
    }
    this.#position = next;
    if (this.step !== before || !this.#playing) this.#emit();
  }

  subscribe(listener: (state: PlaybackState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(): void {
    const state = this.state;
    for (const listener of this.#listeners) listener(state);
  }
}
