// Playback of a schedule: a step and the progress of that step's motion, which the scene reads
// every frame. Pure (no DOM): the UI and the keyboard call its methods; main's frame loop calls
// advance().
//
// Stepping lands on the END of a step's motion (pieces arrived, gradients summed, loss reduced):
// - next() enters the next step at progress 0 and animates its motion to 1, then holds;
// - previous(), seek() and the scrubber show the step's end state at once;
// - play() runs the steps continuously;
// - with reduced motion every step is shown at its end state (progress 1), never tweened.

export interface PlaybackState {
  readonly step: number;
  readonly stepCount: number;
  readonly playing: boolean;
  /** Progress of the current step's motion, 0..1. */
  readonly progress: number;
  /** True when the motion of the current step has finished (progress 1). */
  readonly settled: boolean;
}

/** "Next" animates a step at least this fast (steps per second), so a presenter never waits long. */
const MIN_STEP_ANIMATION_SPEED = 0.8;

export class Playback {
  /** Steps per second. */
  speed = 0.5;
  loop = true;
  /** With prefers-reduced-motion, every step shows its end state (no tweening). */
  reducedMotion = false;
  #step = 0;
  #progress = 1;
  #stepCount = 1;
  #playing = false;
  /** next() is animating the step it entered (not playing: it holds at the end). */
  #animating = false;
  readonly #listeners = new Set<(state: PlaybackState) => void>();

  /** step + progress, below step + 1 (for readers that want one number). */
  get position(): number {
    return this.#step + Math.min(this.progress, 0.9999);
  }
  get step(): number {
    return this.#step;
  }
  /** Progress within the current step, 0..1 (always 1 with reduced motion: the step's end state). */
  get progress(): number {
    return this.reducedMotion ? 1 : this.#progress;
  }
  get settled(): boolean {
    return this.progress >= 1;
  }
  get stepCount(): number {
    return this.#stepCount;
  }
  get playing(): boolean {
    return this.#playing;
  }
  get state(): PlaybackState {
    return { step: this.#step, stepCount: this.#stepCount, playing: this.#playing, progress: this.progress, settled: this.settled };
  }

  setStepCount(count: number): void {
    this.#stepCount = Math.max(1, Math.floor(count));
    if (this.#step >= this.#stepCount) {
      this.#step = this.#stepCount - 1;
      this.#progress = 1;
      this.#animating = false;
    }
    this.#emit();
  }

  play(): void {
    if (this.#playing) return;
    if (this.#step >= this.#stepCount - 1 && this.#progress >= 1) {
      // At the end: start over (a loop would too).
      this.#step = 0;
      this.#progress = 0;
    } else if (this.#progress >= 1) {
      this.#step++;
      this.#progress = 0;
    }
    this.#animating = false;
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
  /** Shows a step's end state (clamped); pauses, as a user scrubbing expects. */
  seek(step: number): void {
    this.#playing = false;
    this.#animating = false;
    this.#step = Math.max(0, Math.min(this.#stepCount - 1, Math.floor(step)));
    this.#progress = 1;
    this.#emit();
  }
  /** Enters the next step and animates its motion, then holds at its end. */
  next(): void {
    if (this.#step >= this.#stepCount - 1) {
      this.seek(this.#stepCount - 1);
      return;
    }
    this.#playing = false;
    this.#step++;
    this.#progress = this.reducedMotion ? 1 : 0;
    this.#animating = !this.reducedMotion;
    this.#emit();
  }
  previous(): void {
    this.seek(this.#step - 1);
  }
  restart(): void {
    this.seek(0);
  }

  /** Advances by dt seconds of wall time while playing or animating a step. Called once per frame. */
  advance(dt: number): void {
    if (dt <= 0) return;
    if (this.#animating) {
      this.#progress = Math.min(1, this.#progress + dt * Math.max(this.speed, MIN_STEP_ANIMATION_SPEED));
      if (this.#progress >= 1) {
        this.#animating = false;
        this.#emit();
      }
      return;
    }
    if (!this.#playing) return;
    const before = this.#step;
    let p = this.#progress + dt * this.speed;
    let step = this.#step;
    while (p >= 1) {
      if (step >= this.#stepCount - 1) {
        if (this.loop) {
          step = 0;
          p -= 1;
        } else {
          p = 1;
          this.#playing = false;
          break;
        }
      } else {
        step++;
        p -= 1;
      }
    }
    this.#step = step;
    this.#progress = p;
    if (step !== before || !this.#playing) this.#emit();
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
