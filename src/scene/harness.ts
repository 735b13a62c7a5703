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

/** CPU time of scene.render's update (before the GPU submit), per frame, over `frames` frames sweeping the steps. */
function benchUpdate(frames: number): number[] {
  running = false;
  const times: number[] = [];
  const steps = playback.stepCount;
  for (let i = 0; i < frames; i++) {
    const position = ((i / frames) * steps) % steps;
    const step = Math.floor(position);
    scene.render({ position, step, progress: position - step });
    times.push(scene.stats().updateMs);
  }
  running = true;
  requestAnimationFrame(frame);
  return times;
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
