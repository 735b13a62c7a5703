// The scene: ranks as lanes, token blocks coloured by global position, every collective of the
// Schedule animated as motion between lanes, the causal work matrix, the online-softmax merge and
// the loss step. Rendered with three/webgpu's WebGPURenderer on the app's own GPUDevice, or its
// WebGL2 backend when there is no device. Reads the Schedule and the playback position only.

import { Color, LinearSRGBColorSpace, InstancedBufferAttribute, InstancedMesh, MeshBasicMaterial, OrthographicCamera, PlaneGeometry, Scene, BufferGeometry, Float32BufferAttribute, DynamicDrawUsage, DoubleSide } from 'three';
import { WebGPURenderer } from 'three/webgpu';
import type { Params } from '../model/params.ts';
import type { Schedule, ValidSchedule, TokenSet, HeadRange, Step } from '../model/schedule.ts';
import { tokenCount } from '../model/schedule.ts';
import { PALETTES, mix, rankColor, rankColorHex, tokenColor, type Palette, type Rgb, type Theme } from './colors.ts';
import { computeLayout, displayBlockTokens, formatTokens, headSpan, matrixCells, segmentPieces, tensorScales, tokenSpan, type ColumnBox, type LaneBox, type SceneLayout } from './layout.ts';
import { buildWorkMatrix, cellStart, forwardProgress, type WorkMatrix } from './matrix.ts';
import { columnOf, holdingsAt, isGradient, tracksForStep, type Track } from './tracks.ts';
import { OverlayDom, text, type Label } from './overlay.ts';
import { MISCONCEPTIONS, narrationFor } from './narration.ts';
import { labelsShiftedBeforeSharding, labelsShiftedPerShard, ownerOf } from './loss.ts';
import { readTrace, softmaxRows, type SoftmaxRow } from './softmax.ts';
import './scene.css';

export type { Theme } from './colors.ts';

export interface PlaybackView {
  readonly position: number;
  readonly step: number;
  readonly progress: number;
}

/** What the scene reads from a verification result (structurally; see src/gpu/verify.ts). */
export interface SceneVerification {
  readonly softmaxTrace?: unknown;
  readonly backend?: string;
  readonly seqLen?: number;
}

export interface SceneInfo {
  readonly geometries: number;
  readonly textures: number;
  readonly programs?: number;
}

export interface SceneView {
  setSchedule(schedule: Schedule, params: Params): void;
  setVerification(v: SceneVerification | null): void;
  render(playback: PlaybackView): void;
  /** The CPU part of render() (instance buffers, labels), without drawing: for the bench. */
  update(playback: PlaybackView): void;
  resize(): void;
  setTheme(theme: Theme): void;
  captureFrame(scale: number): Promise<HTMLCanvasElement>;
  info(): SceneInfo;
  readonly backend: 'webgpu' | 'webgl2';
  /** Where main attaches the playback controls (see ./controls.ts). */
  readonly controlsSlot: HTMLElement;
  /** Shows the per-shard label-shift bug in the loss step. */
  setLabelBug(on: boolean): void;
  /** Instances drawn in the last frame, and how many were dropped by the cap. */
  stats(): { instances: number; dropped: number; updateMs: number };
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------
// Instance pools: one InstancedMesh per shape, fixed capacity, reused across schedules.

const SLANT = 0.22;

function slantGeometry(): BufferGeometry {
  const g = new BufferGeometry();
  g.setAttribute('position', new Float32BufferAttribute([-0.5, -0.5, 0, 0.5 - SLANT, -0.5, 0, 0.5, 0.5, 0, -0.5 + SLANT, 0.5, 0], 3));
  g.setIndex([0, 1, 2, 0, 2, 3]);
  return g;
}

function diamondGeometry(): BufferGeometry {
  const g = new BufferGeometry();
  g.setAttribute('position', new Float32BufferAttribute([0, -0.5, 0, 0.5, 0, 0, 0, 0.5, 0, -0.5, 0, 0], 3));
  g.setIndex([0, 1, 2, 0, 2, 3]);
  return g;
}

class Pool {
  readonly mesh: InstancedMesh;
  readonly matrices: Float32Array;
  readonly colors: Float32Array;
  readonly colorAttr: InstancedBufferAttribute;
  count = 0;
  dropped = 0;
  dirty = true;

  constructor(
    geometry: BufferGeometry,
    readonly capacity: number,
    order: number,
  ) {
    const material = new MeshBasicMaterial({ color: 0xffffff, side: DoubleSide, depthTest: false, depthWrite: false });
    this.mesh = new InstancedMesh(geometry, material, capacity);
    this.mesh.frustumCulled = false;
    this.mesh.renderOrder = order;
    this.mesh.instanceMatrix.setUsage(DynamicDrawUsage);
    this.matrices = this.mesh.instanceMatrix.array as Float32Array;
    this.colors = new Float32Array(capacity * 3);
    this.colorAttr = new InstancedBufferAttribute(this.colors, 3);
    this.colorAttr.setUsage(DynamicDrawUsage);
    this.mesh.instanceColor = this.colorAttr;
    this.mesh.count = 0;
  }

  reset(): void {
    this.count = 0;
    this.dropped = 0;
    this.dirty = true;
  }

  /** A box of w×h px whose top-left corner is (x, y) in stage px (y down). */
  push(x: number, y: number, w: number, h: number, c: Rgb): void {
    if (w <= 0 || h <= 0) return;
    if (this.count >= this.capacity) {
      this.dropped++;
      return;
    }
    const i = this.count++;
    const m = this.matrices;
    const o = i * 16;
    m[o] = w;
    m[o + 1] = 0;
    m[o + 2] = 0;
    m[o + 3] = 0;
    m[o + 4] = 0;
    m[o + 5] = h;
    m[o + 6] = 0;
    m[o + 7] = 0;
    m[o + 8] = 0;
    m[o + 9] = 0;
    m[o + 10] = 1;
    m[o + 11] = 0;
    m[o + 12] = x + w / 2;
    m[o + 13] = -(y + h / 2);
    m[o + 14] = 0;
    m[o + 15] = 1;
    const k = i * 3;
    this.colors[k] = c[0];
    this.colors[k + 1] = c[1];
    this.colors[k + 2] = c[2];
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.mesh.count = this.count;
    const im = this.mesh.instanceMatrix;
    im.clearUpdateRanges();
    im.addUpdateRange(0, Math.max(1, this.count) * 16);
    im.needsUpdate = true;
    this.colorAttr.clearUpdateRanges();
    this.colorAttr.addUpdateRange(0, Math.max(1, this.count) * 3);
    this.colorAttr.needsUpdate = true;
  }

  dispose(): void {
    this.mesh.geometry.dispose();
    (this.mesh.material as MeshBasicMaterial).dispose();
    this.mesh.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

const GROUP_NOUN: Record<string, string> = { usp: 'Ulysses group', default: 'node' };
const ERROR_MARK: Rgb = [0.835, 0.369, 0]; // Okabe–Ito vermillion: lost / wrong labels

interface Model {
  readonly schedule: ValidSchedule;
  readonly params: Params;
  readonly block: number;
  readonly matrix: WorkMatrix;
  readonly maxWork: number;
  readonly groups: readonly number[];
}

function ease(t: number): number {
  return t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
}

function fmtHeads(h: HeadRange, total: number): string {
  return h.start === 0 && h.end === total ? 'all heads' : `heads ${h.start}–${h.end - 1}`;
}

function fmtSet(set: TokenSet): string {
  if (set.length === 0) return 'nothing';
  return set.map((s) => (s.stride === 1 ? `${formatTokens(s.start)}–${formatTokens(s.start + s.count - 1)}` : `every ${s.stride}th from ${s.start}`)).join(' + ');
}

export async function createScene({ canvas, overlay, device }: { canvas: HTMLCanvasElement; overlay: HTMLElement; device: GPUDevice | null }): Promise<SceneView> {
  const renderer = device ? new WebGPURenderer({ canvas, device, antialias: false, alpha: true }) : new WebGPURenderer({ canvas, forceWebGL: true, antialias: false, alpha: true });
  await renderer.init();
  // Colours are authored in sRGB and written to the canvas as they are (no linear→sRGB encode).
  renderer.outputColorSpace = LinearSRGBColorSpace;
  const backendObj = renderer.backend as unknown as { isWebGPUBackend?: boolean };
  const backend: 'webgpu' | 'webgl2' = backendObj.isWebGPUBackend ? 'webgpu' : 'webgl2';

  const scene = new Scene();
  const camera = new OrthographicCamera(0, 1, 0, -1, -10, 10);
  camera.position.set(0, 0, 5);
  const quad = new PlaneGeometry(1, 1);
  const bg = new Pool(quad, 8192, 0);
  const blocks = new Pool(quad.clone(), 24576, 1);
  const grads = new Pool(slantGeometry(), 8192, 2);
  const marks = new Pool(diamondGeometry(), 2048, 3);
  const fly = new Pool(quad.clone(), 16384, 4);
  const flyGrad = new Pool(slantGeometry(), 8192, 5);
  const flyMark = new Pool(diamondGeometry(), 1024, 6);
  quad.dispose();
  const pools = [bg, blocks, grads, marks, fly, flyGrad, flyMark];
  const staticPools = [bg, blocks, grads, marks];
  const flyPools = [fly, flyGrad, flyMark];
  for (const p of pools) scene.add(p.mesh);

  const dom = new OverlayDom(overlay);
  let theme: Theme = 'dark';
  let palette: Palette = PALETTES.dark;
  let width = 0;
  let height = 0;
  let layout: SceneLayout = computeLayout(800, 450, [0]);
  let model: Model | null = null;
  let invalidReason: string | null = null;
  let strategyTitle = '';
  let verification: SceneVerification | null = null;
  let labelBug = false;
  let builtStep = -1;
  let lastKey = '';
  let tracks: Track[] = [];
  let lastUpdateMs = 0;

  const applyTheme = (): void => {
    renderer.setClearColor(new Color(palette.clear[0], palette.clear[1], palette.clear[2]), palette.clearAlpha);
    overlay.dataset.theme = theme;
  };
  applyTheme();

  function measure(): boolean {
    const rect = canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(rect.width));
    const h = Math.max(1, Math.round(rect.height));
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

  function relayout(): void {
    const groups = model ? model.groups : [0];
    layout = computeLayout(width, height, groups);
    dom.place(dom.header, layout.header);
    dom.place(dom.footer, layout.footer);
    dom.place(dom.panel, layout.panel);
    builtStep = -1;
  }

  // -------------------------------------------------------------------------------------------
  // Static content of one step: lanes, holdings, matrix, bars, legend, labels.

  function laneOf(rank: number): LaneBox | undefined {
    return layout.lanes[rank];
  }

  function column(id: 'q' | 'kv' | 'o'): ColumnBox {
    return layout.columns.find((c) => c.id === id) as ColumnBox;
  }

  /** Vertical extent of a tensor block inside a lane; K sits in the top half of the K/V block, V in the bottom. */
  function blockY(lane: LaneBox, tensor: string, heads: HeadRange, m: Model): { y: number; h: number } {
    const scales = tensorScales(m.params.heads, m.params.kvHeads);
    const col = columnOf(tensor as never);
    if (col === 'kv') {
      const span = headSpan(lane, heads, m.params.kvHeads, scales.kv);
      const half = span.h / 2;
      const isV = tensor === 'V' || tensor === 'dV';
      const gap = Math.min(1, half * 0.2);
      return { y: span.y + (isV ? half + gap / 2 : 0), h: Math.max(0.6, half - gap / 2) };
    }
    if (tensor === 'X') return headSpan(lane, { start: 0, end: 1 }, 1, scales.q);
    return headSpan(lane, heads, m.params.heads, scales.q);
  }

  function drawSet(pool: Pool, col: ColumnBox, lane: LaneBox, tokens: TokenSet, y: number, h: number, m: Model, dim: number, shift = 0): void {
    for (const seg of tokens) {
      for (const piece of segmentPieces(seg, m.block, 192)) {
        const span = tokenSpan(col, m.schedule.seq, piece.t0, piece.t1);
        const w = Math.max(1, span.w - (span.w > 4 ? 1 : 0));
        let c = tokenColor((piece.mid + shift) / Math.max(1, m.schedule.seq - 1));
        if (dim > 0) c = mix(c, palette.lane, dim);
        pool.push(span.x, y, w, h, c);
      }
    }
    void lane;
  }

  function buildStep(stepIndex: number): void {
    for (const p of staticPools) p.reset();
    const labels: Label[] = [];
    const m = model;
    const L = layout;
    const ink = theme === 'light' ? '#1a1d24' : '#e6e8ee';
    const muted = theme === 'light' ? '#4a5263' : '#9aa3b2';

    // Lanes: a background per lane and column, bracket per group.
    L.lanes.forEach((lane, r) => {
      for (const col of L.columns) bg.push(col.x - 3, lane.y, col.w + 6, lane.h, r % 2 ? palette.laneAlt : palette.lane);
    });
    if (m && L.groups.length > 1) {
      for (const g of L.groups) bg.push(L.labels.x - 3, g.y + 1, 3, g.h - 2, palette.group);
    }
    // Legend: the token ramp.
    const legendSteps = 64;
    const legendW = Math.min(L.legend.w * 0.5, 320);
    const legendX = L.legend.x + L.legend.w - legendW;
    for (let i = 0; i < legendSteps; i++) bg.push(legendX + (i * legendW) / legendSteps, L.legend.y + 3, legendW / legendSteps + 0.5, 8, tokenColor(i / (legendSteps - 1)));

    if (!m) {
      dom.setLabels(labels);
      return;
    }
    const s = m.schedule;
    const step: Step | undefined = s.steps[stepIndex];
    const phase = step?.phase ?? 'forward';
    const groupNoun = GROUP_NOUN[s.strategy] ?? GROUP_NOUN.default ?? 'node';

    // Column titles.
    const titles: Record<'q' | 'kv' | 'o', string> =
      phase === 'loss'
        ? { q: 'tokens (inputs)', kv: 'labels = next token', o: 'loss sum, count' }
        : phase === 'backward'
          ? { q: 'Q (dQ accumulates)', kv: 'K top / V bottom; dK, dV ▱', o: 'dO (incoming gradient)' }
          : { q: 'Q shard (stays)', kv: 'K top / V bottom (held)', o: 'O + softmax state (m, l)' };
    for (const col of L.columns) labels.push({ text: titles[col.id], x: col.x + col.w / 2, y: L.columnTitles.y + 1, align: 'c', cls: 'ss-coltitle' });
    labels.push({ text: `token 0 → ${formatTokens(s.seq - 1)}: colour = global position`, x: legendX - 8, y: L.legend.y - 1, align: 'r', cls: 'ss-small' });
    labels.push({ text: `1 block = ${formatTokens(m.block)} token${m.block === 1 ? '' : 's'}`, x: L.legend.x, y: L.legend.y - 1, align: 'l', cls: 'ss-small ss-strong' });

    // Lane labels.
    const pitch = L.lanes.length > 1 ? (L.lanes[1] as LaneBox).y - (L.lanes[0] as LaneBox).y : (L.lanes[0]?.h ?? 20);
    L.lanes.forEach((lane, r) => {
      if (r % L.labelEvery !== 0 && r !== L.lanes.length - 1) return;
      if (r === L.lanes.length - 1 && r % L.labelEvery !== 0 && L.labelEvery > 1 && pitch * (r % L.labelEvery) < 12) return;
      labels.push({ text: L.labelEvery === 1 ? `rank ${r}` : `r${r}`, x: L.labels.x + L.labels.w, y: lane.y + lane.h / 2 - 7, align: 'r', cls: 'ss-rank', color: undefined });
      if (lane.h >= 6) bg.push(L.labels.x + L.labels.w + 2, lane.y + lane.h / 2 - 3, 4, 6, rankColor(r));
    });
    if (L.groups.length > 1) {
      // Rotated along the group's bracket, centred on the group.
      for (const g of L.groups) if (g.h >= 40) labels.push({ text: `${groupNoun} ${g.group}`, x: L.labels.x - 12, y: g.y + g.h / 2, align: 'c', cls: 'ss-group' });
    }

    // Holdings.
    if (phase === 'loss') {
      drawLoss(stepIndex, labels);
    } else {
      const holdings = holdingsAt(s, stepIndex, { heads: m.params.heads, kvHeads: m.params.kvHeads });
      for (const h of holdings) {
        const lane = laneOf(h.rank);
        if (!lane) continue;
        const col = column(h.column);
        const dim = h.idle ? 0.72 : 0;
        if (h.column === 'kv') {
          for (const t of ['K', 'V'] as const) {
            const y = blockY(lane, t, h.heads, m);
            drawSet(blocks, col, lane, h.tokens, y.y, y.h, m, dim);
          }
        } else {
          const y = blockY(lane, h.tensor, h.heads, m);
          drawSet(blocks, col, lane, h.tokens, y.y, y.h, m, dim);
        }
        if (h.idle && h.column === 'o' && lane.h >= 11) labels.push({ text: 'idle: block fully masked', x: col.x + col.w - 4, y: lane.y + lane.h / 2 - 7, align: 'r', cls: 'ss-idle' });
      }
    }

    drawMatrix(stepIndex, labels, ink, muted);
    dom.setLabels(labels);
  }

  function drawLoss(stepIndex: number, labels: Label[]): void {
    const m = model as Model;
    const s = m.schedule;
    const shards = s.shards.map((x) => x.tokens);
    const qc = column('q');
    const kc = column('kv');
    const oc = column('o');
    let lost = 0;
    let wrong = 0;
    s.shards.forEach((shard, r) => {
      const lane = laneOf(r);
      if (!lane) return;
      const y = headSpan(lane, { start: 0, end: 1 }, 1, 1);
      drawSet(blocks, qc, lane, shard.tokens, y.y, y.h, m, 0);
      // Labels: the target of token i is token i+1 (coloured by the target's position).
      const labelled = s.loss.labelled[r] ?? [];
      if (!labelBug) {
        drawSet(blocks, kc, lane, labelled, y.y, y.h, m, 0, 1);
        // Boundary: the shard's last token takes its label from the next shard (no communication: shifted before sharding).
        for (const seg of shard.tokens) {
          if (seg.stride !== 1 || seg.count === 0) continue;
          const last = seg.start + seg.count - 1;
          if (last >= s.seq - 1 || ownerOf(shards, last + 1) === r) continue;
          const span = tokenSpan(kc, s.seq, last, last + 1);
          const size = Math.max(5, Math.min(12, lane.h * 0.8));
          marks.push(span.x - size / 2, lane.y + lane.h / 2 - size / 2, size, size, palette.highlight);
        }
      } else {
        // Per-shard shift: each buffer is shifted locally; its last token loses its target and a
        // non-adjacent next token gives a wrong one.
        const report = labelsShiftedPerShard(shard.tokens, s.seq);
        lost += report.lost;
        wrong += report.wrong;
        for (const seg of shard.tokens) {
          if (seg.stride === 1) drawSet(blocks, kc, lane, [{ start: seg.start, count: Math.max(0, seg.count - 1), stride: 1 }], y.y, y.h, m, 0, 1);
          else for (const piece of segmentPieces(seg, m.block, 192)) {
            const span = tokenSpan(kc, s.seq, piece.t0, piece.t1);
            grads.push(span.x, y.y, Math.max(1, span.w), y.h, ERROR_MARK);
          }
        }
        const segs = shard.tokens.filter((g) => g.count > 0);
        segs.forEach((seg, i) => {
          const last = seg.start + (seg.count - 1) * seg.stride;
          const next = segs[i + 1];
          const isBufferEnd = !next;
          if (isBufferEnd && last >= s.seq - 1) return;
          if (!isBufferEnd && next && next.start === last + 1) return;
          const span = tokenSpan(kc, s.seq, last, last + 1);
          const size = Math.max(6, Math.min(13, lane.h * 0.85));
          marks.push(span.x - size / 2, lane.y + lane.h / 2 - size / 2, size, size, ERROR_MARK);
        });
      }
      // The (loss sum, count) pair of this rank.
      const size = Math.max(5, Math.min(14, lane.h * 0.8));
      marks.push(oc.x + oc.w * 0.15 - size / 2, lane.y + lane.h / 2 - size / 2, size, size, rankColor(r));
      if (lane.h >= 11) {
        const rep = labelsShiftedBeforeSharding(labelled.length ? labelled : shard.tokens, s.seq, () => true);
        labels.push({ text: `Σℓ over ${formatTokens(labelBug ? Math.max(0, tokenCount(shard.tokens) - 1) : tokenCount(labelled))} labels`, x: oc.x + oc.w * 0.15 + size, y: lane.y + lane.h / 2 - 7, align: 'l', cls: 'ss-small' });
        void rep;
      }
    });
    const lastStep = s.steps[stepIndex];
    const reduced = lastStep?.collectives.some((c) => c.kind === 'all-reduce');
    if (reduced) labels.push({ text: `mean = Σℓ / ${formatTokens(Math.max(0, s.seq - 1))} after the all-reduce`, x: oc.x + oc.w / 2, y: (layout.legend.y ?? 0) - 1, align: 'c', cls: 'ss-small ss-strong' });
    renderLossPanel(lost, wrong);
  }

  function drawMatrix(stepIndex: number, labels: Label[], ink: string, muted: string): void {
    const m = model as Model;
    const M = m.matrix;
    const R = layout.matrix;
    const n = M.n;
    const cellPx = R.w / n;
    const inset = cellPx >= 5 ? 1 : cellPx >= 3 ? 0.5 : 0;
    const step = m.schedule.steps[stepIndex];
    const f = step?.phase === 'forward' ? forwardProgress(M, stepIndex) : M.steps.length - 1;
    const isCurrent = step?.phase === 'forward' && step.compute.length > 0;
    const n2 = n * n;
    bg.push(R.x - 1, R.y - 1, R.w + 2, R.h + 2, palette.emptyEdge);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const c = i * n + j;
        const x = R.x + j * cellPx + inset;
        const y = R.y + i * cellPx + inset;
        const w = cellPx - 2 * inset;
        const total = M.total[c] ?? 0;
        if (total <= 0 || j > i) {
          blocks.push(x, y, w, w, palette.empty);
          continue;
        }
        const done = f >= 0 ? (M.cum[f * n2 + c] ?? 0) : 0;
        const frac = Math.min(1, done / total);
        const owner = M.owner[c] ?? -1;
        const fresh = isCurrent && f >= 0 && done - (f > 0 ? (M.cum[(f - 1) * n2 + c] ?? 0) : 0) > 0;
        const pending = mix(palette.empty, palette.emptyEdge, 0.9);
        if (frac <= 0) {
          blocks.push(x, y, w, w, pending);
          continue;
        }
        // Done earlier: muted rank colour; computed in this very step: full colour (+ a frame when cells are large).
        const k = fresh ? 1 : 0.45 + 0.3 * frac;
        let ix = x;
        let iy = y;
        let iw = w;
        if (fresh && cellPx >= 9) {
          blocks.push(x - inset, y - inset, cellPx, cellPx, palette.highlight);
          ix += 1.5;
          iy += 1.5;
          iw -= 3;
        }
        if (owner >= 0) blocks.push(ix, iy, iw, iw, mix(pending, rankColor(owner), k));
        else {
          const sharers: number[] = [];
          for (let q = 0; q < 4; q++) {
            const r = M.sharers[c * 4 + q] ?? -1;
            if (r >= 0) sharers.push(r);
          }
          const bands = Math.max(1, sharers.length);
          sharers.forEach((r, q) => blocks.push(ix, iy + (q * iw) / bands, iw, iw / bands, mix(pending, rankColor(r), k)));
        }
      }
    }
    labels.push({ text: 'causal work: query ↓ × key →, colour = rank', x: R.x, y: R.y - 17, align: 'l', cls: 'ss-coltitle' });
    labels.push({ text: 'q', x: R.x - 10, y: R.y + R.h / 2 - 7, align: 'c', cls: 'ss-small' });
    const cellTokens = m.schedule.seq / n;
    let shared = false;
    for (let c = 0; c < n2 && !shared; c++) if ((M.owner[c] ?? -1) === -2) shared = true;
    // Notes sit over the (empty) upper triangle, on a backdrop.
    const notes = [
      'empty = masked (k > q): skipped',
      `1 cell = ${formatTokens(cellTokens)} × ${formatTokens(cellTokens)} tokens`,
      'bright = computed in this step',
      ...(shared ? ['bands = shared by several ranks'] : []),
    ];
    notes.forEach((t, i) => labels.push({ text: t, x: R.x + R.w - 2, y: R.y + 3 + i * 15, align: 'r', cls: 'ss-small ss-note' }));
    void ink;
    void muted;

    // Work bars per rank: done so far (rank colour) over the total (outline colour).
    const B = layout.bars;
    const P = M.ranks;
    const bw = B.w / P;
    const F = M.steps.length;
    for (let r = 0; r < P; r++) {
      const finalWork = M.perRank[(F - 1) * P + r] ?? 0;
      const now = f >= 0 ? (M.perRank[f * P + r] ?? 0) : 0;
      const hTotal = (finalWork / Math.max(1, m.maxWork)) * B.h;
      const hNow = (now / Math.max(1, m.maxWork)) * B.h;
      const gap = bw > 4 ? 1 : 0;
      bg.push(B.x + r * bw, B.y + B.h - hTotal, bw - gap, hTotal, palette.emptyEdge);
      blocks.push(B.x + r * bw, B.y + B.h - hNow, bw - gap, hNow, rankColor(r));
    }
    const minW = Math.min(...Array.from({ length: P }, (_, r) => M.perRank[(F - 1) * P + r] ?? 0));
    const ratio = minW > 0 ? m.maxWork / minW : Infinity;
    labels.push({
      text: `attention work per rank (busiest/idlest ${Number.isFinite(ratio) ? `${ratio.toFixed(ratio < 10 ? 2 : 0)}×` : '∞'})`,
      x: B.x,
      y: B.y - 16,
      align: 'l',
      cls: 'ss-small',
    });
  }

  // -------------------------------------------------------------------------------------------
  // Moving blocks of the current step (every frame).

  function drawTracks(progress: number): void {
    for (const p of flyPools) p.reset();
    const m = model;
    if (!m || tracks.length === 0) {
      for (const p of flyPools) p.flush();
      return;
    }
    // Hold on the source for the first 15%, travel, rest on the destination for the last 15%.
    const t = ease(Math.min(1, Math.max(0, (progress - 0.15) / 0.7)));
    const s = m.schedule;
    const pitch = layout.lanes.length > 1 ? (layout.lanes[1] as LaneBox).y - (layout.lanes[0] as LaneBox).y : 20;
    for (const tr of tracks) {
      if (tr.local) continue;
      const a = laneOf(tr.src);
      const b = laneOf(tr.dst);
      if (!a || !b) continue;
      if (tr.tensor === 'loss') {
        const oc = column('o');
        const size = Math.max(5, Math.min(14, a.h * 0.8));
        const y0 = a.y + a.h / 2;
        const y1 = b.y + b.h / 2;
        const arc = Math.sin(Math.PI * t) * Math.min(oc.w * 0.3, 10 + Math.abs(tr.dst - tr.src) * pitch * 0.2);
        flyMark.push(oc.x + oc.w * 0.15 - size / 2 + arc, y0 + (y1 - y0) * t - size / 2, size, size, rankColor(tr.src));
        continue;
      }
      const col = column(columnOf(tr.tensor));
      const ya = blockY(a, tr.tensor, tr.heads, m);
      const yb = blockY(b, tr.tensor, tr.heads, m);
      const y = ya.y + (yb.y - ya.y) * t;
      const h = ya.h + (yb.h - ya.h) * t;
      const arc = Math.sin(Math.PI * t) * Math.min(col.w * 0.12, 4 + Math.abs(tr.dst - tr.src) * pitch * 0.12);
      const pool = isGradient(tr.tensor) ? flyGrad : fly;
      for (const seg of tr.tokens) {
        for (const piece of segmentPieces(seg, m.block, 96)) {
          const span = tokenSpan(col, s.seq, piece.t0, piece.t1);
          const c = tokenColor(piece.mid / Math.max(1, s.seq - 1));
          // A light rim so moving blocks stand out from held ones.
          if (h >= 4 && span.w >= 4) pool.push(span.x + arc - 1, y - 1, Math.max(1, span.w) + 2, h + 2, palette.highlight);
          pool.push(span.x + arc, y, Math.max(1, span.w - (span.w > 4 ? 1 : 0)), h, c);
        }
      }
    }
    for (const p of flyPools) p.flush();
  }

  // -------------------------------------------------------------------------------------------
  // DOM panels: caption, softmax merge, loss, notes.

  function renderCaption(stepIndex: number): void {
    const m = model;
    if (!m) {
      dom.caption.textContent = invalidReason ?? '';
      dom.badge.textContent = '';
      return;
    }
    const step = m.schedule.steps[stepIndex];
    dom.caption.textContent = step?.caption ?? '';
    const kinds = [...new Set(step?.collectives.map((c) => c.label) ?? [])];
    dom.badge.textContent = step ? `${step.phase}${kinds.length ? ` · ${kinds.join(' · ')}` : ' · compute only'}` : '';
    dom.badge.dataset.phase = step?.phase ?? '';
  }

  function renderSoftmaxPanel(stepIndex: number): void {
    const m = model;
    dom.panel.replaceChildren();
    if (!m) return;
    const s = m.schedule;
    const step = s.steps[stepIndex];
    if (step?.phase === 'loss') return; // drawLoss fills it
    const trace = readTrace(verification?.softmaxTrace ?? null);
    // The traced rank when the verification run traced one (same strategy and ranks), else the last rank.
    const rank = trace.rank !== null && trace.rank < s.ranks ? trace.rank : s.ranks - 1;
    const rows: SoftmaxRow[] = softmaxRows(s, rank, verification?.softmaxTrace ?? null);
    const traced = rows.some((r) => r.m !== null);
    text(dom.panel, 'div', `online softmax merge on rank ${rank}, as each K/V block arrives`, 'ss-panel-title');
    text(dom.panel, 'div', 'm ← max(m, rowmax S)   l ← l·e^(m_old−m) + Σ e^(S−m)   acc ← acc·e^(m_old−m) + e^(S−m)·V', 'ss-formula');
    const table = document.createElement('table');
    table.className = 'ss-softmax';
    const hr = document.createElement('tr');
    for (const h of traced ? ['step', 'K/V block', 'm', 'l', 'e^(m_old−m)', 'acc[0..2]'] : ['step', 'K/V block arriving', 'work']) text(hr, 'th', h);
    table.append(hr);
    // Keep the current step in view: at most 8 rows around it.
    const at = Math.max(0, rows.findIndex((r) => r.step >= stepIndex));
    const from = Math.max(0, Math.min(rows.length - 8, at - 3));
    for (const row of rows.slice(from, from + 8)) {
      const tr = document.createElement('tr');
      if (row.step === stepIndex) tr.className = 'ss-current';
      else if (row.step > stepIndex) tr.className = 'ss-future';
      text(tr, 'td', String(row.step + 1));
      text(tr, 'td', row.block);
      if (traced) {
        text(tr, 'td', row.m === null ? '—' : row.m.toPrecision(4));
        text(tr, 'td', row.l === null ? '—' : row.l.toPrecision(4));
        text(tr, 'td', row.skipped ? 'skipped' : row.scale === null ? '—' : row.scale.toPrecision(3));
        text(tr, 'td', row.acc ? row.acc.map((a) => a.toPrecision(3)).join(', ') : '—');
      } else {
        text(tr, 'td', row.skipped ? 'masked: skipped, m and l unchanged' : 'merge: rescale by e^(m_old−m), add');
      }
      table.append(tr);
    }
    dom.panel.append(table);
    text(
      dom.panel,
      'div',
      traced
        ? `Query token ${trace.token ?? '?'}, head ${trace.head ?? '?'}, read back from the ${verification?.backend === 'cpu' ? 'CPU reference' : 'GPU'} run at ${verification?.seqLen ?? '?'} executed tokens (the blocks above are the modelled ones). At the end O = acc / l.`
        : verification
          ? 'This run did not trace a row; at the end O = acc / l.'
          : 'Waiting for the verification run for real numbers. At the end O = acc / l.',
      'ss-small-block',
    );
  }

  function renderLossPanel(lost: number, wrong: number): void {
    const m = model as Model;
    dom.panel.replaceChildren();
    text(dom.panel, 'div', 'loss: local cross-entropy, then all-reduce (sum, count)', 'ss-panel-title');
    const row = document.createElement('label');
    row.className = 'ss-toggle';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = labelBug;
    box.addEventListener('change', () => {
      labelBug = box.checked;
      builtStep = -1;
    });
    row.append(box, document.createTextNode(' show the bug: shift labels per shard, after sharding'));
    dom.panel.append(row);
    const s = m.schedule;
    if (!labelBug) {
      text(dom.panel, 'div', `Right: labels = tokens[1:] before sharding. ${formatTokens(Math.max(0, s.seq - 1))} targets, none lost; ◆ marks a shard’s last token, whose target is the next shard’s first token (no communication needed).`, 'ss-small-block');
    } else {
      text(
        dom.panel,
        'div',
        `Bug: each rank shifts its own buffer. ${lost} label${lost === 1 ? '' : 's'} lost (◆, one per shard boundary)${wrong ? `, ${formatTokens(wrong)} wrong (▱: the buffer’s next token is not the sequence’s next token)` : ''}. The loss silently trains on fewer or wrong targets.`,
        'ss-small-block ss-bug',
      );
    }
    if (s.strategy === 'zigzag' || s.strategy === 'striped' || s.strategy === 'allgather')
      text(dom.panel, 'div', 'Permuted layout: labels and position ids are permuted exactly like the tokens.', 'ss-small-block');
  }

  function renderNotes(): void {
    const m = model;
    dom.notes.replaceChildren();
    if (!m) return;
    const n = narrationFor(m.schedule.strategy);
    text(dom.notes, 'h3', n.title);
    text(dom.notes, 'h4', 'Say it out loud');
    text(dom.notes, 'p', n.sayIt);
    text(dom.notes, 'p', n.stateAndAxis, 'ss-state');
    text(dom.notes, 'h4', 'Common misconceptions');
    const ul = document.createElement('ul');
    for (const mc of MISCONCEPTIONS) text(ul, 'li', mc);
    dom.notes.append(ul);
    text(dom.notes, 'h4', 'From picture to code');
    const dl = document.createElement('dl');
    for (const k of n.knobs) {
      text(dl, 'dt', k.framework);
      const dd = document.createElement('dd');
      text(dd, 'code', k.code);
      if (k.note) text(dd, 'div', k.note, 'ss-small-block');
      dl.append(dd);
    }
    dom.notes.append(dl);
  }

  function renderHeader(): void {
    const m = model;
    if (!m) {
      dom.title.textContent = strategyTitle;
      dom.subtitle.textContent = '';
      return;
    }
    const p = m.params;
    dom.title.textContent = narrationFor(m.schedule.strategy).title;
    dom.subtitle.textContent = ` · ${m.schedule.ranks} rank${m.schedule.ranks === 1 ? '' : 's'} · ${formatTokens(m.schedule.seq)} tokens · ${p.heads} heads (${p.kvHeads} K/V)`;
  }

  // -------------------------------------------------------------------------------------------

  function setSchedule(schedule: Schedule, params: Params): void {
    builtStep = -1;
    lastKey = '';
    tracks = [];
    strategyTitle = narrationFor(schedule.strategy).title;
    if (!schedule.valid) {
      model = null;
      invalidReason = schedule.reason;
      dom.invalid.hidden = false;
      dom.invalid.textContent = `${strategyTitle} cannot run these settings: ${schedule.reason}`;
    } else {
      invalidReason = null;
      dom.invalid.hidden = true;
      const n = matrixCells(schedule.seq, schedule.ranks);
      const matrix = buildWorkMatrix(schedule, n);
      const F = Math.max(1, matrix.steps.length);
      let maxWork = 0;
      for (let r = 0; r < schedule.ranks; r++) maxWork = Math.max(maxWork, matrix.perRank[(F - 1) * schedule.ranks + r] ?? 0);
      model = {
        schedule,
        params,
        block: displayBlockTokens(schedule.seq, schedule.ranks),
        matrix,
        maxWork,
        groups: schedule.shards.map((x) => x.node),
      };
    }
    measure();
    relayout();
    renderHeader();
    renderNotes();
  }

  function render(playback: PlaybackView): void {
    update(playback);
    renderer.render(scene, camera);
  }

  function update(playback: PlaybackView): void {
    const t0 = performance.now();
    if (measure()) relayout();
    const m = model;
    const stepIndex = m ? Math.max(0, Math.min(m.schedule.steps.length - 1, playback.step)) : 0;
    if (builtStep !== stepIndex) {
      buildStep(stepIndex);
      for (const p of staticPools) p.flush();
      tracks = m ? tracksForStep(m.schedule, stepIndex) : [];
      renderCaption(stepIndex);
      if (m?.schedule.steps[stepIndex]?.phase !== 'loss') renderSoftmaxPanel(stepIndex);
      builtStep = stepIndex;
      lastKey = '';
    }
    const key = `${stepIndex}:${playback.progress.toFixed(4)}`;
    if (key !== lastKey) {
      drawTracks(playback.progress);
      lastKey = key;
    }
    lastUpdateMs = performance.now() - t0;
  }

  async function captureFrame(scale: number): Promise<HTMLCanvasElement> {
    const k = Math.max(0.25, Math.min(4, scale));
    const out = document.createElement('canvas');
    out.width = Math.round(width * k);
    out.height = Math.round(height * k);
    const ctx = out.getContext('2d');
    if (!ctx) throw new Error('captureFrame: no 2D context');
    const before = renderer.getPixelRatio();
    renderer.setPixelRatio(k);
    renderer.setSize(width, height, false);
    if (theme !== 'transparent') {
      ctx.fillStyle = `rgb(${palette.clear.map((v) => Math.round(v * 255)).join(',')})`;
      ctx.fillRect(0, 0, out.width, out.height);
    }
    // Render and copy in the same task: a WebGPU canvas reads as zeros once it has been presented.
    renderer.render(scene, camera);
    ctx.drawImage(canvas, 0, 0, out.width, out.height);
    renderer.setPixelRatio(before);
    renderer.setSize(width, height, false);
    renderer.render(scene, camera);
    // Text: the DOM labels, the title and the caption.
    ctx.scale(k, k);
    ctx.textBaseline = 'top';
    const ink = theme === 'light' ? '#1a1d24' : '#e6e8ee';
    for (const l of dom.labelData) {
      ctx.font = `${l.bold ? '600 ' : ''}${l.size ?? 12}px system-ui, sans-serif`;
      ctx.fillStyle = l.color ?? ink;
      ctx.textAlign = l.align === 'r' ? 'right' : l.align === 'c' ? 'center' : 'left';
      ctx.fillText(l.text, l.x, l.y + 1);
    }
    ctx.textAlign = 'left';
    ctx.font = '600 15px system-ui, sans-serif';
    ctx.fillStyle = ink;
    ctx.fillText(`${dom.title.textContent ?? ''}${dom.subtitle.textContent ?? ''}`, 10, 8);
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText(`${dom.badge.textContent ?? ''} — ${dom.caption.textContent ?? ''}`.slice(0, 220), 10, layout.footer.y + 8, width - 20);
    return out;
  }

  function info(): SceneInfo {
    const mem = renderer.info.memory as unknown as { geometries: number; textures: number; programs?: number };
    return { geometries: mem.geometries, textures: mem.textures, programs: mem.programs };
  }

  const onResize = (): void => {
    if (measure()) relayout();
  };
  const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(onResize) : null;
  observer?.observe(canvas);

  return {
    backend,
    controlsSlot: dom.controlsSlot,
    setSchedule,
    setVerification(v) {
      verification = v;
      builtStep = -1;
    },
    render,
    update,
    resize: onResize,
    setTheme(next) {
      theme = next;
      palette = PALETTES[next];
      applyTheme();
      builtStep = -1;
    },
    setLabelBug(on) {
      labelBug = on;
      builtStep = -1;
    },
    captureFrame,
    info,
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
      for (const p of pools) {
        scene.remove(p.mesh);
        p.dispose();
      }
      dom.dispose();
      renderer.dispose();
    },
  };
}

export { fmtHeads, fmtSet, rankColorHex };
