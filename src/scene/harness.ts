// The scene alone, for the bench (scripts/bench/scene.ts) and for looking at it without the rest
// of the page: /src/scene/harness.html#strategy=zigzag&ranks=8. Not part of the app bundle.

import { parseParams, type Params } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { Playback } from '../app/playback.ts';
import { requestGpu } from '../gpu/device.ts';
import { createScene } from './index.ts';
import { attachKeyboard, attachPlaybackControls } from './controls.ts';

const canvas = document.getElementById('scene-canvas') as HTMLCanvasElement;
const overlay = document.getElementById('scene-overlay') as HTMLElement;
let params: Params = parseParams(location.hash.length > 1 ? location.hash : location.search).params;
const gpu = await requestGpu(navigator.gpu);
const device = gpu.ok ? gpu.device : null;
const scene = await createScene({ canvas, overlay, device });
const playback = new Playback();
const show = (): void => {
  const schedule = buildSchedule(params);
  scene.setSchedule(schedule, params);
  playback.setStepCount(schedule.valid ? schedule.steps.length : 1);
};
show();
attachPlaybackControls(scene.controlsSlot, playback);
attachKeyboard(window, playback);
let last = performance.now();
let running = true;
const frame = (now: number): void => {
  if (!running) return;
  playback.advance((now - last) / 1000);
  last = now;
  scene.render(playback);
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);

/**
 * CPU time of the scene update (instance buffers + labels, no GPU), in ms per frame. performance.now()
 * is coarsened in the browser, so each sample times `batch` consecutive frames and divides.
 * 'tween': frames inside one step (only the moving blocks change); 'step': every frame lands on
 * another step (the step's static content is rebuilt too).
 */
function benchUpdate(kind: 'tween' | 'step', samples: number, batch = 20): number[] {
  running = false;
  const out: number[] = [];
  const steps = playback.stepCount;
  let k = 0;
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    for (let j = 0; j < batch; j++, k++) {
      const step = kind === 'step' ? k % steps : Math.floor(i / 4) % steps;
      const progress = kind === 'step' ? 0.5 : (j + 0.5) / batch;
      scene.update({ position: step + progress, step, progress });
    }
    out.push((performance.now() - t0) / batch);
  }
  running = true;
  requestAnimationFrame(frame);
  return out;
}

/**
 * Main-thread ms of a parameter change in the scene: scene.setSchedule alone (the schedule is built
 * outside the timing), and the first frame after it (the step's content and the lazily computed
 * work-matrix owners), each the median of `repeats` changes between `change` and the current params.
 */
function benchSetSchedule(change: Partial<Params>, repeats = 5): { valid: boolean; setSchedule: number[]; firstFrame: number[] } {
  running = false;
  const next = { ...params, ...change };
  const a = buildSchedule(next);
  const b = buildSchedule(params);
  const setSchedule: number[] = [];
  const firstFrame: number[] = [];
  for (let i = 0; i < repeats; i++) {
    for (const [s, p] of [[b, params], [a, next]] as const) {
      const t0 = performance.now();
      scene.setSchedule(s, p);
      const t1 = performance.now();
      scene.update({ position: 0.999, step: 0, progress: 0.999 });
      const t2 = performance.now();
      if (s === a) {
        setSchedule.push(t1 - t0);
        firstFrame.push(t2 - t1);
      }
    }
  }
  scene.setSchedule(b, params);
  running = true;
  requestAnimationFrame(frame);
  return { valid: a.valid, setSchedule, firstFrame };
}

Object.assign(window, {
  __harness: {
    benchSetSchedule,
    /** Stops the clock and draws one moment: step (0-based) at progress 0..1 (for looking at motion). */
    freeze(step: number, progress: number) {
      running = false;
      scene.render({ position: step + progress, step, progress });
    },
    setParams(change: Partial<Params>) {
      params = { ...params, ...change };
      show();
    },
    benchUpdate,
    stats: () => scene.stats(),
    info: () => ({ ...scene.info(), backend: scene.backend }),
    playback,
    ready: true,
  },
});
