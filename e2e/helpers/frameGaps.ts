// Frames during a burst of parameter changes (e.g. 20, one per 100 ms) through the app's test
// hook (the store's own per-frame path), then a quiet tail; returns the longest gap between two
// requestAnimationFrame callbacks. Used by the responsive spec (asserts) and the interaction bench
// (prints).
import type { Page } from '@playwright/test';

export interface FrameGaps {
  readonly maxGapMs: number;
  readonly frames: number;
  /** Wall time the burst and its tail took (ms): a main thread that blocks stretches it. */
  readonly spanMs: number;
  /** The store's version after the last change. */
  readonly version: number;
}

/**
 * Applies `changes[i]` then waits `pauses[i]` ms (100 when not given); frames are recorded until
 * `tailMs` after the last one.
 */
export async function frameGapsDuring(page: Page, changes: readonly object[], tailMs: number, pauses: readonly number[] = []): Promise<FrameGaps> {
  return page.evaluate(
    async ({ changes, tailMs, pauses }) => {
      const hook = (window as unknown as { __shardscopeTest: { setParams(c: object): void; stats(): { version: number } } }).__shardscopeTest;
      const stamps: number[] = [];
      let running = true;
      const tick = (t: number): void => {
        stamps.push(t);
        if (running) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      const t0 = performance.now();
      for (let i = 0; i < changes.length; i++) {
        hook.setParams(changes[i] as object);
        await new Promise((r) => setTimeout(r, pauses[i] ?? 100));
      }
      await new Promise((r) => setTimeout(r, tailMs));
      running = false;
      let maxGapMs = 0;
      for (let i = 1; i < stamps.length; i++) maxGapMs = Math.max(maxGapMs, (stamps[i] as number) - (stamps[i - 1] as number));
      return { maxGapMs, frames: stamps.length, spanMs: performance.now() - t0, version: hook.stats().version };
    },
    { changes, tailMs, pauses },
  );
}
