// Wiring only: state, GPU, scene, UI, and the frame loop.

import './style.css';
import { Store } from './app/store.ts';
import { Playback } from './app/playback.ts';
import { Messages } from './app/messages.ts';
import { exposeField, installShardscope } from './app/expose.ts';
import { VerificationController } from './app/verification.ts';
import { requestGpu, runSelfTest } from './gpu/device.ts';
import { createScene } from './scene/index.ts';
import { attachKeyboard, attachPlaybackControls } from './scene/controls.ts';
import type { Params } from './model/params.ts';
import { createUi, readUrlState } from './ui/index.ts';

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html lacks #${id}`);
  return element as T;
};

const errors: string[] = [];
const messages = new Messages($('messages'));
const runtime = { ready: false, webgpu: false, adapter: '', selfTest: null as null | { ok: boolean; expected: number[]; got: number[] } };

function reportError(text: string): void {
  errors.push(text);
  messages.show(`error-${errors.length}`, 'error', text);
}
window.addEventListener('error', (event) => reportError(`Unexpected error: ${event.message}`));
window.addEventListener('unhandledrejection', (event) => reportError(`Unexpected error: ${String(event.reason)}`));

// Params and view state (step, embed, theme, …) from the URL's query and hash; bad values become messages (createUi).
const url = readUrlState();
const store = new Store(url.params);
const playback = new Playback();
playback.reducedMotion = matchMedia('(prefers-reduced-motion: reduce)').matches;

installShardscope(window);
exposeField('ready', () => runtime.ready);
exposeField('webgpu', () => runtime.webgpu);
exposeField('adapter', () => runtime.adapter);
exposeField('params', () => store.state.params);
exposeField('errors', () => errors);
exposeField('selfTest', () => runtime.selfTest);
exposeField('playback', () => playback.state);

// Panel, readouts, URL sync, embed mode, sharing: before the GPU, so the page is usable at once.
const ui = createUi({ store, playback, messages, url });

const gpu = await requestGpu(navigator.gpu);
let device: GPUDevice | null = null;
if (gpu.ok) {
  device = gpu.device;
  runtime.webgpu = true;
  runtime.adapter = gpu.adapterName;
  device.addEventListener('uncapturederror', (event) => reportError(`WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`));
  void device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    runtime.webgpu = false;
    reportError(`The GPU device was lost (${info.message || info.reason}).`);
  });
  runtime.selfTest = await runSelfTest(device);
  if (!runtime.selfTest.ok) reportError(`WebGPU self-test read back ${runtime.selfTest.got.join(', ')} instead of ${runtime.selfTest.expected.join(', ')}.`);
} else {
  messages.show(
    'no-webgpu',
    'warning',
    `WebGPU is unavailable: ${gpu.reason} The cost model and the animation still work; the attention check runs on the CPU instead. ` +
      'For the GPU run, use Chrome or Edge 113+, Safari 26+ or Firefox 141+ (on Linux, Chrome may need chrome://flags/#enable-unsafe-webgpu).',
  );
}

const verification = new VerificationController(store, device);
exposeField('verification', () => {
  const r = verification.status.result;
  return r && { strategy: r.strategy, ranks: r.ranks, seqLen: r.seqLen, heads: r.heads, headDim: r.headDim, maxAbsError: r.maxAbsError, maxRelError: r.maxRelError, gpuMs: r.gpuMs, backend: r.backend, localMask: r.localMask, maxAbsErrorVsCpu: r.maxAbsErrorVsCpu };
});
exposeField('verificationError', () => verification.status.error);
verification.schedule(0);
ui.attachVerification(verification);

// The scene: the current plan's schedule, animated on the app's own GPUDevice (WebGL2 without one).
const scene = await createScene({ canvas: $<HTMLCanvasElement>('scene-canvas'), overlay: $('scene-overlay'), device });
ui.attachScene(scene); // theme from the URL; PNG export captures its frames
function showSchedule(): void {
  const schedule = store.state.plan.schedule;
  scene.setSchedule(schedule, store.state.params);
  playback.setStepCount(schedule.valid ? schedule.steps.length : 1);
}
store.subscribe((state, previous) => {
  if (state.plan.schedule !== previous.plan.schedule) showSchedule();
});
showSchedule();
verification.subscribe((status) => scene.setVerification(status.result));
attachPlaybackControls(scene.controlsSlot, playback);
attachKeyboard(window, playback);
exposeField('sceneInfo', () => ({ ...scene.info(), backend: scene.backend, ...scene.stats() }));
// Test hook (soak test): drive param changes without the UI.
Object.defineProperty(window, '__shardscopeTest', { value: { setParams: (change: Partial<Params>) => store.setParams(change) } });

let last = performance.now();
function frame(now: number): void {
  playback.advance((now - last) / 1000);
  last = now;
  scene.render(playback);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
runtime.ready = true;
