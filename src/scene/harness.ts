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

Object.assign(window, {
  __harness: {
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
