// Wiring only: state, GPU, scene, UI, and the frame loop.

// lil-gui's stylesheet as a file (its default <style> injection is an inline style the CSP refuses).
import 'lil-gui/dist/lil-gui.css';
import './style.css';
import { createPlannerWorker, Store } from './app/store.ts';
import { Playback } from './app/playback.ts';
import { isBenignError, Messages } from './app/messages.ts';
import { exposeField, installShardscope } from './app/expose.ts';
import { createVerificationWorker, VerificationController } from './app/verification.ts';
import { requestGpu, runSelfTest } from './gpu/device.ts';
import { createScene } from './scene/index.ts';
import { attachKeyboard, attachMessageMark, attachPlaybackControls, type PlaybackControls } from './scene/controls.ts';
import type { Params } from './model/params.ts';
import { createUi, readUrlState } from './ui/index.ts';
import { measureSince, measureSpans } from './app/measure.ts';

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
window.addEventListener('error', (event) => {
  // Harmless browser warnings (ResizeObserver's loop notice) are not errors: no banner, no console line.
  if (isBenignError(event.message)) return event.preventDefault();
  reportError(`Unexpected error: ${event.message}`);
});
window.addEventListener('unhandledrejection', (event) => reportError(`Unexpected error: ${String(event.reason)}`));

// Params and view state (step, embed, theme, …) from the URL's query and hash; bad values become messages (createUi).
const url = readUrlState();
// On a slide, messages never cover the picture: a small mark in the corner counts them and opens them.
if (url.view.embed) attachMessageMark(messages, $('messages'));
// Plans (schedule, costs, the scene's work matrix) are computed in a worker (app/store.ts).
const store = new Store(url.params, { planner: createPlannerWorker() });
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

// One GPUDevice for the verification and the scene. A lost device gets a message and a
// "Restart GPU" button that requests a new one and remounts both on it.
let device: GPUDevice | null = null;

async function startGpu(): Promise<GPUDevice | null> {
  const gpu = await requestGpu(navigator.gpu);
  if (!gpu.ok) {
    messages.show(
      'no-webgpu',
      'warning',
      `WebGPU is unavailable: ${gpu.reason} The cost model and the animation still work; the attention check runs on the CPU instead. ` +
        'For the GPU run, use Chrome or Edge 113+, Safari 26+ or Firefox 141+ (on Linux, Chrome may need chrome://flags/#enable-unsafe-webgpu).',
    );
    return null;
  }
  const next = gpu.device;
  runtime.webgpu = true;
  runtime.adapter = gpu.adapterName;
  next.addEventListener('uncapturederror', (event) => reportError(`WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`));
  void next.lost.then((info) => {
    if (next !== device) return; // a device we already replaced
    runtime.webgpu = false;
    errors.push(`GPU device lost: ${info.message || info.reason}`);
    ui.showGpuLost(`The GPU device was lost (${info.message || info.reason}). The cost model keeps working; restart the GPU to resume the animation on WebGPU and the attention check.`, restartGpu);
  });
  runtime.selfTest = await runSelfTest(next);
  if (!runtime.selfTest.ok) reportError(`WebGPU self-test read back ${runtime.selfTest.got.join(', ')} instead of ${runtime.selfTest.expected.join(', ')}.`);
  return next;
}

async function restartGpu(): Promise<void> {
  const next = await startGpu();
  if (!next) throw new Error('no WebGPU device could be created; the page goes on without one.');
  device = next;
  verification.setDevice(device);
  await mountScene(device);
}

device = await startGpu();
// The check runs in a worker (its own GPUDevice, or the CPU without WebGPU), priced against the
// execution budget first; a clamped run says so in a message naming the field and the size used.
const verification = new VerificationController(store, createVerificationWorker(), 150, {
  onClamp: (clamps, text) => (clamps.length ? messages.show('exec-budget', 'warning', text) : messages.dismiss('exec-budget')),
});
exposeField('verification', () => {
  const r = verification.status.result;
  const b = r?.backward;
  return r && {
    strategy: r.strategy, ranks: r.ranks, seqLen: r.seqLen, heads: r.heads, headDim: r.headDim, maxAbsError: r.maxAbsError, maxRelError: r.maxRelError, gpuMs: r.gpuMs, backend: r.backend, localMask: r.localMask, maxAbsErrorVsCpu: r.maxAbsErrorVsCpu,
    backward: b ? { maxAbsErrorDq: b.maxAbsErrorDq, maxAbsErrorDk: b.maxAbsErrorDk, maxAbsErrorDv: b.maxAbsErrorDv, gpuMs: b.gpuMs, relativeError: b.relativeError, relativeErrorVsCpu: b.relativeErrorVsCpu, maxGradient: b.maxGradient, unshardedGpuMs: b.unshardedGpuMs, dispatches: b.dispatches, reductions: b.reductions } : null,
    backwardError: r.backwardError,
  };
});
// Per backward step, per rank: the dQ/dK/dV buffers held and their L2 norms (data for the scene).
exposeField('gradientNorms', () => verification.status.result?.backward?.gradientNorms ?? null);
exposeField('verificationError', () => verification.status.error);
exposeField('execution', () => {
  const s = verification.status;
  return { version: s.version, running: s.running, executed: s.executed, clamps: s.clamps, budget: s.budget, budgetText: s.budgetText, clampText: s.clampText, staleDropped: verification.stale, cancelled: verification.cancelled };
});
verification.schedule(0);
ui.attachVerification(verification);

// The scene: the current plan's schedule, animated on the app's own GPUDevice (WebGL2 without one).
let scene: Awaited<ReturnType<typeof createScene>>;
let sceneControls: PlaybackControls | null = null;
async function mountScene(on: GPUDevice | null): Promise<void> {
  let canvas = $<HTMLCanvasElement>('scene-canvas');
  if (sceneControls) {
    sceneControls.dispose();
    scene.dispose();
    // A canvas keeps the context type it was first given; a fresh one can take the new device.
    const fresh = canvas.cloneNode(false) as HTMLCanvasElement;
    canvas.replaceWith(fresh);
    canvas = fresh;
  }
  scene = await createScene({ canvas, overlay: $('scene-overlay'), device: on });
  scene.setPresentation(url.view.embed || url.view.present, url.view.ink);
  ui.attachScene(scene); // theme from the URL; PNG export captures its frames
  showSchedule();
  scene.setVerification(verification.status.result);
  sceneControls = attachPlaybackControls(scene.controlsSlot, playback);
}
/** Main-thread ms per part of a change, summed (npm run bench -- interaction reads them). */
const interaction = { sceneMs: 0, sceneUpdates: 0, verificationMs: 0 };
function showSchedule(): void {
  const t0 = performance.now();
  const plan = store.pricedPlan;
  scene.setPlan(plan);
  scene.setSchedule(plan.schedule, plan.params, store.matrixOf(plan.schedule));
  playback.setStepCount(plan.schedule.valid ? plan.schedule.steps.length : 1);
  shownSchedule = plan.schedule;
  sceneRebuilt = true;
  interaction.sceneMs += performance.now() - t0;
  interaction.sceneUpdates++;
}
let shownSchedule: unknown = null;
/** The next frame draws a new schedule: it is measured as part of the change (npm run bench -- interaction). */
let sceneRebuilt = false;
await mountScene(device);
// The scene follows the newest plan (its schedule and numbers together), not the params: a change
// is drawn when the planner worker answers, usually within a frame or two.
store.onPlan((plan) => (plan.schedule !== shownSchedule ? showSchedule() : scene.setPlan(plan)));
verification.subscribe((status) => {
  const t0 = performance.now();
  scene.setVerification(status.result);
  interaction.verificationMs += performance.now() - t0;
});
attachKeyboard(window, playback);
exposeField('sceneInfo', () => ({ ...scene.info(), backend: scene.backend, ...scene.stats() }));
// Test hooks: drive param changes without the UI (soak test); lose the device as a driver would.
Object.defineProperty(window, '__shardscopeTest', {
  value: {
    setParams: (change: Partial<Params>) => store.setParams(change),
    /** Runs the pending change's subscribers now (the interaction bench times one change at a time). */
    flush: () => store.flush(),
    stats: () => ({ store: { ...store.stats }, ...interaction, staleDropped: verification.stale, cancelled: verification.cancelled, version: store.state.version, planVersion: store.pricedVersion, verificationVersion: verification.status.version }),
    loseDevice: () => device?.destroy(),
    /** Records the change's spans as User Timing measures (app/measure.ts) for a trace. */
    measureSpans,
  },
});

let last = performance.now();
function frame(now: number): void {
  playback.advance((now - last) / 1000);
  last = now;
  const t0 = sceneRebuilt ? performance.now() : 0;
  scene.render(playback);
  if (sceneRebuilt) measureSince('shardscope.scene', t0);
  sceneRebuilt = false;
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
runtime.ready = true;
