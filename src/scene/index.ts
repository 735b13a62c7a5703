// The scene: ranks as lanes, token blocks coloured by global position, every collective of the
// Schedule animated as motion between lanes, the causal work matrix, the online-softmax merge and
// the loss step. Rendered with three/webgpu's WebGPURenderer on the app's own GPUDevice, or its
// WebGL2 backend when there is no device. Reads the Schedule and the playback position only.
//
// This file assembles the parts (one concern per file, sharing ./context.ts) and runs the frame:
//   stage.ts        lanes, holdings, lane/column labels, legend
//   motion.ts       the transfers of the step, per collective kind, with their labels
//   matrixView.ts   the causal work matrix and the work bars
//   softmaxPanel.ts the online-softmax merge panel
//   lossPanel.ts    the loss step and its panel
//   gradients.ts    the backward steps' measured dK/dV/dQ norms per rank
//   captions.ts     title, caption, badge, notes
//   export.ts       a frame as a PNG-ready canvas
//   presentation.ts type scale and footer on a slide; view.ts the SceneView interface

import { Color, LinearSRGBColorSpace, OrthographicCamera, Scene } from 'three';
import { WebGPURenderer } from 'three/webgpu';
import type { Params } from '../model/params.ts';
import type { Schedule } from '../model/schedule.ts';
import { PALETTES, type Palette, type Theme } from './colors.ts';
import { unpackWorkMatrix, type PackedWorkMatrix } from './matrixTransport.ts';
import { buildModel, createContext, poolList, type SceneVerification } from './context.ts';
import { computeLayout } from './layout.ts';
import { OverlayDom, setTextScale, type Label } from './overlay.ts';
import { narrationFor } from './narration.ts';
import { buildStage, buildStageBase, headAxisLabels } from './stage.ts';
import { createMotion } from './motion.ts';
import { createMatrixView } from './matrixView.ts';
import { createSoftmaxPanel } from './softmaxPanel.ts';
import { createLossView } from './lossPanel.ts';
import { createGradientsView } from './gradients.ts';
import { renderCaption, renderHeader, renderLegendKey, renderNotes } from './captions.ts';
import { footerHeight, presentation } from './presentation.ts';
import { captureFrame } from './export.ts';
import { createFramePacer } from './pacing.ts';
import { createInspector } from './inspector.ts';
import type { PlaybackView, SceneView } from './view.ts';
import './scene.css';

export type { Theme } from './colors.ts';
export type { ScenePlan, SceneVerification } from './context.ts';

export type { PlaybackView, SceneInfo, SceneView } from './view.ts';

export async function createScene({ canvas, overlay, device }: { canvas: HTMLCanvasElement; overlay: HTMLElement; device: GPUDevice | null }): Promise<SceneView> {
  const renderer = device ? new WebGPURenderer({ canvas, device, antialias: false, alpha: true }) : new WebGPURenderer({ canvas, forceWebGL: true, antialias: false, alpha: true });
  await renderer.init();
  // Colours are authored in sRGB and written to the canvas as they are (no linear→sRGB encode).
  renderer.outputColorSpace = LinearSRGBColorSpace;
  const backendObj = renderer.backend as unknown as { isWebGPUBackend?: boolean };
  const backend: 'webgpu' | 'webgl2' = backendObj.isWebGPUBackend ? 'webgpu' : 'webgl2';
  const pacer = createFramePacer(renderer.backend as unknown as Parameters<typeof createFramePacer>[0]);

  const scene = new Scene();
  const camera = new OrthographicCamera(0, 1, 0, -1, -10, 10);
  camera.position.set(0, 0, 5);
  const dom = new OverlayDom(overlay);
  const ctx = createContext(dom);
  const pools = poolList(ctx.pools);
  const { base, cells, cellFrames, blocks, grads, marks } = ctx.pools;
  const stepPools = [cellFrames, blocks, grads, marks];
  for (const p of pools) scene.add(p.mesh);

  const motion = createMotion(ctx);
  const matrixView = createMatrixView(ctx);
  const softmaxPanel = createSoftmaxPanel(ctx);
  const lossView = createLossView(ctx);
  const gradientsView = createGradientsView(ctx);
  const inspector = createInspector(ctx);

  let width = 0;
  let height = 0;
  let ink: 'auto' | 'dark' | 'light' = 'auto';
  let strategyTitle = '';
  let baseBuilt = false;
  let lastKey = '';
  let lastUpdateMs = 0;
  // Set by the ResizeObserver; without one, the size is read every frame.
  let sizeDirty = true;

  const applyTheme = (): void => {
    // A transparent stage on a light slide (ink=dark) draws its lanes in the light theme's colours.
    const base: Palette = ctx.theme === 'transparent' && ink === 'dark' ? PALETTES.light : PALETTES[ctx.theme];
    ctx.palette = ctx.theme === 'transparent' ? { ...base, clear: PALETTES.transparent.clear, clearAlpha: 0 } : base;
    const p = ctx.palette;
    renderer.setClearColor(new Color(p.clear[0], p.clear[1], p.clear[2]), p.clearAlpha);
    overlay.dataset.theme = ctx.theme;
    if (ctx.theme === 'transparent' && ink !== 'auto') overlay.dataset.ink = ink;
    else delete overlay.dataset.ink;
  };
  applyTheme();

  let frameSize = { w: 1, h: 1 };
  function measure(): boolean {
    const rect = canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(rect.width));
    const h = Math.max(1, Math.round(rect.height));
    const d = document.documentElement;
    frameSize = { w: Math.max(w, d.clientWidth), h: Math.max(h, d.clientHeight) };
    if (w === width && h === height) return false;
    width = w;
    height = h;
    renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
    renderer.setSize(w, h, false);
    camera.left = 0;
    camera.right = w;
    camera.top = 0;
    camera.bottom = -h;
    camera.updateProjectionMatrix();
    return true;
  }

  /** The slide: the whole frame (iframe or window), of which the stage is a part. */
  function frame(): { w: number; h: number } {
    return frameSize;
  }

  function relayout(): void {
    const groups = ctx.model ? ctx.model.groups : [0];
    const pres = presentation(ctx.present, frame(), { w: width, h: height });
    const panel = pres.panel;
    ctx.k = pres.k;
    setTextScale(ctx.k);
    overlay.style.setProperty('--ss-k', String(ctx.k));
    overlay.style.setProperty('--ss-cap', `${pres.captionPx}px`);
    overlay.style.setProperty('--ss-round', `${pres.roundPx}px`);
    const footerH = footerHeight(pres, ctx.present, width, ctx.model?.schedule ?? null, ctx.invalidReason);
    ctx.layout = computeLayout(width, height, groups, { footerH, textScale: ctx.k, panel });
    const layout = ctx.layout;
    dom.panel.hidden = !panel;
    dom.place(dom.header, layout.header);
    dom.place(dom.footer, layout.footer);
    dom.place(dom.panel, layout.panel);
    dom.captionRow.style.height = `${layout.footer.h - 4 - 4 - 26 * ctx.k - 8}px`;
    const B = layout.bars;
    const keyY = B.y + B.h + 8 * ctx.k;
    renderLegendKey(ctx, panel ? null : { x: B.x, y: keyY, w: Math.max(B.w, layout.width - 8 - B.x), h: layout.footer.y - 4 - keyY });
    overlay.dataset.size = layout.width < 480 ? 'narrow' : layout.stacked ? 'stacked' : layout.wide ? 'wide' : 'side';
    dom.notes.style.bottom = `${layout.footer.h + 6}px`;
    baseBuilt = false;
    softmaxPanel.invalidate();
    motion.invalidate();
    ctx.blockYCache.clear();
    ctx.builtStep = -1;
  }

  function buildBase(): void {
    base.reset();
    cells.reset();
    buildStageBase(ctx);
    matrixView.buildBase();
    base.flush();
    baseBuilt = true;
  }

  function buildStep(stepIndex: number): void {
    for (const p of stepPools) p.reset();
    const labels: Label[] = [];
    const m = ctx.model;
    if (m) {
      buildStage(ctx, stepIndex, labels);
      if (m.schedule.steps[stepIndex]?.phase === 'loss') lossView.draw(stepIndex, labels);
      else softmaxPanel.render(stepIndex);
      matrixView.draw(stepIndex, labels);
      gradientsView.draw(stepIndex, labels);
    }
    motion.prepare(stepIndex, labels);
    headAxisLabels(ctx, stepIndex, labels);
    dom.setLabels(labels);
    let dropped = 0;
    for (const p of stepPools) {
      dropped += p.dropped;
      p.flush();
    }
    cells.flush();
    const notes = [motion.aggregateNote, dropped > 0 ? `${dropped} blocks not drawn: too many for this size` : ''].filter(Boolean);
    renderCaption(ctx, stepIndex, notes.join('; '));
    inspector.refresh(stepIndex);
  }

  function setSchedule(schedule: Schedule, params: Params, matrix: PackedWorkMatrix | null = null): void {
    ctx.builtStep = -1;
    lastKey = '';
    softmaxPanel.invalidate();
    lossView.invalidate();
    motion.invalidate();
    ctx.blockYCache.clear();
    strategyTitle = narrationFor(schedule.strategy).title;
    if (!schedule.valid) {
      ctx.model = null;
      ctx.invalidReason = schedule.reason;
      dom.invalid.hidden = false;
      dom.invalid.textContent = `${strategyTitle} cannot run these settings: ${schedule.reason}`;
      dom.panel.replaceChildren();
    } else {
      ctx.invalidReason = null;
      dom.invalid.hidden = true;
      ctx.model = buildModel(schedule, params, matrix ? unpackWorkMatrix(matrix) : undefined);
    }
    // The size does not change with the schedule (the ResizeObserver reports changes): reading it
    // here would force a layout of the page on every parameter change.
    if (width === 0) measure();
    relayout();
    renderHeader(ctx, strategyTitle);
    renderNotes(ctx);
  }

  /** Whether the instance buffers changed since the last drawn frame. */
  let frameDirty = true;

  function update(playback: PlaybackView): void {
    const t0 = performance.now();
    // Reading the canvas size forces a layout after DOM changes: only when it may have changed.
    if (sizeDirty) {
      if (observer) sizeDirty = false;
      if (measure()) relayout();
    }
    const m = ctx.model;
    const stepIndex = m ? Math.max(0, Math.min(m.schedule.steps.length - 1, playback.step)) : 0;
    if (!baseBuilt) {
      buildBase();
      ctx.builtStep = -1;
    }
    if (ctx.builtStep !== stepIndex) {
      buildStep(stepIndex);
      ctx.builtStep = stepIndex;
      lastKey = '';
    }
    const key = `${stepIndex}:${playback.progress.toFixed(4)}`;
    if (key !== lastKey) {
      motion.draw(playback.progress);
      lastKey = key;
      frameDirty = true; // every rebuild above goes through here (it clears lastKey)
    }
    lastUpdateMs = performance.now() - t0;
  }

  const onResize = (): void => {
    sizeDirty = false;
    if (measure()) relayout();
  };
  const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(onResize) : null;
  observer?.observe(canvas);

  return {
    backend,
    controlsSlot: dom.controlsSlot,
    setSchedule,
    setPlan(plan) {
      ctx.plan = plan;
      if (inspector.rank !== null && ctx.builtStep >= 0) inspector.refresh(ctx.builtStep);
    },
    setVerification(v) {
      ctx.verification = v;
      softmaxPanel.invalidate();
      ctx.builtStep = -1;
    },
    render(playback) {
      update(playback);
      // Only frames that differ are drawn: a paused or settled scene costs the GPU nothing (on a
      // software adapter one 64-rank frame took ~300 ms), and the canvas keeps its last image.
      // And only once the GPU has drawn the last one (./pacing.ts).
      if (!frameDirty || !pacer.ready) return;
      frameDirty = false;
      renderer.render(scene, camera);
      pacer.submitted();
    },
    update,
    resize: onResize,
    setTheme(next) {
      ctx.theme = next;
      applyTheme();
      baseBuilt = false;
      ctx.builtStep = -1;
    },
    setPresentation(on, nextInk = 'auto') {
      ctx.present = on;
      ink = nextInk;
      if (on) overlay.dataset.present = '';
      else delete overlay.dataset.present;
      applyTheme();
      width = 0; // re-measure and re-lay out at the new type scale
      sizeDirty = true;
      baseBuilt = false;
      ctx.builtStep = -1;
    },
    setLabelBug(on) {
      ctx.labelBug = on;
      ctx.builtStep = -1;
    },
    captureFrame: (scale) => captureFrame(ctx, renderer, scene, camera, canvas, { width, height }, scale),
    info() {
      const mem = renderer.info.memory as unknown as { geometries: number; textures: number; programs?: number };
      return { geometries: mem.geometries, textures: mem.textures, programs: mem.programs };
    },
    stats() {
      let instances = 0;
      let dropped = 0;
      for (const p of pools) {
        instances += p.count;
        dropped += p.dropped;
      }
      return { instances, dropped, updateMs: lastUpdateMs };
    },
    dispose() {
      observer?.disconnect();
      pacer.dispose();
      for (const p of pools) {
        scene.remove(p.mesh);
        p.dispose();
      }
      dom.dispose();
      renderer.dispose();
    },
  };
}
