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
import { computeLayout, displayBlockTokens, formatTokens, headSpan, matrixCells, segmentPieces, tensorScales, tokenSpan, type ColumnBox, type LaneBox, type Piece, type SceneLayout } from './layout.ts';
import { buildWorkMatrix, forwardProgress, type WorkMatrix } from './matrix.ts';
import { columnOf, deriveTracks, holdingsTimeline, isGradient, type Holding, type Track } from './tracks.ts';
import { OverlayDom, fitText, text, textWidth, type Label } from './overlay.ts';
import { MISCONCEPTIONS, READING_KEY, narrationFor } from './narration.ts';
import { labelsShiftedPerShard, ownerOf } from './loss.ts';
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
    this.setRect(i, x, y, w, h);
    this.setColor(i, c[0], c[1], c[2]);
  }

  /** Rewrites instance i's box in place (a fixed slot; see the matrix cells). */
  setRect(i: number, x: number, y: number, w: number, h: number): void {
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
    this.dirty = true;
  }

  setColor(i: number, r: number, g: number, b: number): void {
    const k = i * 3;
    this.colors[k] = r;
    this.colors[k + 1] = g;
    this.colors[k + 2] = b;
    this.dirty = true;
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
  /** Per step, precomputed once: what each rank holds, and what moves. */
  readonly holdings: readonly (readonly Holding[])[];
  readonly tracks: readonly (readonly Track[])[];
  /** Forward progress (index into matrix.steps) of each step, and whether it computes in the forward pass. */
  readonly progress: Int32Array;
  /** Cells computed by more than one rank (bands in the matrix). */
  readonly shared: boolean;
  /** Widest badge + caption, in px at the caption font: sizes the footer. */
  readonly captionW: number;
  /** Drawn pieces (and their colours) of each token set the schedule holds, cached by identity. */
  readonly pieces: WeakMap<TokenSet, { readonly rects: Float64Array; readonly colors: Float32Array }>;
  readonly busiestRatio: number;
}

/** Softmax panel nodes, built once per schedule/verification/layout; a step change only fills them. */
interface SoftmaxPanel {
  readonly key: string;
  readonly rows: readonly SoftmaxRow[];
  readonly cols: number;
  /** Header of the third column ('work' = the long texts fit). */
  readonly header2: string;
  readonly slots: readonly { tr: HTMLTableRowElement; cells: HTMLElement[]; cls: string }[];
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

function setText(e: HTMLElement, t: string): void {
  if (e.textContent !== t) e.textContent = t;
}

const CAPTION_FONT = 12.5;
const CAPTION_LINE = 16;

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
  // base: what changes only with the layout, theme or schedule (lanes, legend, swatches, outlines).
  const base = new Pool(quad, 8192, 0);
  // The work matrix: highlight frames of this step's cells, then one fixed slot per cell (or band).
  const cellFrames = new Pool(quad.clone(), 4096, 1);
  const cells = new Pool(quad.clone(), 16384, 2);
  // Per step: holdings, bars, loss marks.
  const blocks = new Pool(quad.clone(), 24576, 3);
  const grads = new Pool(slantGeometry(), 8192, 4);
  const marks = new Pool(diamondGeometry(), 2048, 5);
  const fly = new Pool(quad.clone(), 16384, 6);
  const flyGrad = new Pool(slantGeometry(), 8192, 7);
  const flyMark = new Pool(diamondGeometry(), 1024, 8);
  quad.dispose();
  const pools = [base, cellFrames, cells, blocks, grads, marks, fly, flyGrad, flyMark];
  const stepPools = [cellFrames, blocks, grads, marks];
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
  let baseBuilt = false;
  let lastKey = '';
  let tracks: readonly Track[] = [];
  let lastUpdateMs = 0;
  // Set by the ResizeObserver; without one, the size is read every frame.
  let sizeDirty = true;
  // Matrix cells: first slot of each cell, slots per cell, and whether its fill is inset for a frame.
  let cellSlot = new Int32Array(0);
  let cellShrunk = new Uint8Array(0);
  let softmax: SoftmaxPanel | null = null;
  let panelMode: 'softmax' | 'loss' | '' = '';
  let lossKey = '';

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

  /** Footer height for this width: the longest caption of the schedule must fit without clipping. */
  function footerHeight(w: number): number {
    const avail = Math.max(100, w - 20);
    const capW = model ? model.captionW : invalidReason ? textWidth(invalidReason, CAPTION_FONT) : 0;
    // Word wrap wastes part of each line.
    const lines = Math.max(2, Math.min(7, Math.ceil((capW * 1.1) / avail)));
    return 4 + lines * CAPTION_LINE + 4 + 26 + 8;
  }

  function relayout(): void {
    const groups = model ? model.groups : [0];
    const footerH = footerHeight(width);
    layout = computeLayout(width, height, groups, { footerH });
    dom.place(dom.header, layout.header);
    dom.place(dom.footer, layout.footer);
    dom.place(dom.panel, layout.panel);
    dom.captionRow.style.height = `${layout.footer.h - 4 - 4 - 26 - 8}px`;
    overlay.dataset.size = layout.width < 480 ? 'narrow' : layout.stacked ? 'stacked' : layout.wide ? 'wide' : 'side';
    dom.notes.style.bottom = `${layout.footer.h + 6}px`;
    baseBuilt = false;
    softmax = null;
    blockYCache.clear();
    trackGeoCache.clear();
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

  const TENSOR_INDEX: Record<string, number> = { X: 0, Q: 1, dQ: 2, K: 3, V: 4, dK: 5, dV: 6, O: 7, dO: 8, loss: 9 };
  // blockY results for the current layout and schedule (cleared by relayout and setSchedule).
  const blockYCache = new Map<number, { y: number; h: number }>();

  /** Vertical extent of a tensor block inside a lane; K sits in the top half of the K/V block, V in the bottom. */
  function blockY(lane: LaneBox, tensor: string, heads: HeadRange, m: Model): { y: number; h: number } {
    const key = (((lane.rank * 16 + (TENSOR_INDEX[tensor] ?? 15)) * 4097 + heads.start) * 4097 + heads.end);
    const hit = blockYCache.get(key);
    if (hit) return hit;
    const out = blockYUncached(lane, tensor, heads, m);
    blockYCache.set(key, out);
    return out;
  }

  function blockYUncached(lane: LaneBox, tensor: string, heads: HeadRange, m: Model): { y: number; h: number } {
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

  /** Pieces of a token set as [t0, t1) pairs with their colours, computed once per set (sets are shared by identity across steps). */
  function piecesOf(tokens: TokenSet, m: Model): { readonly rects: Float64Array; readonly colors: Float32Array } {
    const hit = m.pieces.get(tokens);
    if (hit) return hit;
    const list: Piece[] = [];
    for (const seg of tokens) for (const piece of segmentPieces(seg, m.block, 192)) list.push(piece);
    const rects = new Float64Array(list.length * 2);
    const colors = new Float32Array(list.length * 3);
    const denom = Math.max(1, m.schedule.seq - 1);
    list.forEach((p, i) => {
      rects[2 * i] = p.t0;
      rects[2 * i + 1] = p.t1;
      const c = tokenColor(p.mid / denom);
      colors[3 * i] = c[0];
      colors[3 * i + 1] = c[1];
      colors[3 * i + 2] = c[2];
    });
    const out = { rects, colors };
    m.pieces.set(tokens, out);
    return out;
  }

  function drawSet(pool: Pool, col: ColumnBox, tokens: TokenSet, y: number, h: number, m: Model, dim: number, shift = 0): void {
    if (shift !== 0) {
      // Labels (shifted by one token): rare (the loss step), not cached.
      for (const seg of tokens) {
        for (const piece of segmentPieces(seg, m.block, 192)) {
          const span = tokenSpan(col, m.schedule.seq, piece.t0, piece.t1);
          const w = Math.max(1, span.w - (span.w > 4 ? 1 : 0));
          let c = tokenColor((piece.mid + shift) / Math.max(1, m.schedule.seq - 1));
          if (dim > 0) c = mix(c, palette.lane, dim);
          pool.push(span.x, y, w, h, c);
        }
      }
      return;
    }
    const { rects, colors } = piecesOf(tokens, m);
    const k = col.w / m.schedule.seq;
    const lane = palette.lane;
    const n = rects.length / 2;
    for (let i = 0; i < n; i++) {
      const t0 = rects[2 * i] as number;
      const sw = ((rects[2 * i + 1] as number) - t0) * k;
      const w = Math.max(1, sw - (sw > 4 ? 1 : 0));
      if (pool.count >= pool.capacity) {
        pool.dropped++;
        continue;
      }
      const j = pool.count++;
      pool.setRect(j, col.x + t0 * k, y, w, h);
      const r = colors[3 * i] as number;
      const g = colors[3 * i + 1] as number;
      const b = colors[3 * i + 2] as number;
      if (dim > 0) pool.setColor(j, r + (lane[0] - r) * dim, g + (lane[1] - g) * dim, b + (lane[2] - b) * dim);
      else pool.setColor(j, r, g, b);
    }
  }

  /** Lanes, group brackets, legend ramp, rank swatches, matrix outline and empty cells, total-work outlines. */
  function buildBase(): void {
    base.reset();
    cells.reset();
    const L = layout;
    const m = model;
    L.lanes.forEach((lane, r) => {
      for (const col of L.columns) base.push(col.x - 3, lane.y, col.w + 6, lane.h, r % 2 ? palette.laneAlt : palette.lane);
      if (m && lane.h >= 6 && (r % L.labelEvery === 0 || r === L.lanes.length - 1)) base.push(L.labels.x + L.labels.w + 2, lane.y + lane.h / 2 - 3, 4, 6, rankColor(r));
    });
    if (m && L.groups.length > 1) {
      for (const g of L.groups) base.push(L.labels.x - 3, g.y + 1, 3, g.h - 2, palette.group);
    }
    const lg = legendLayout();
    for (let i = 0; i < 64; i++) base.push(lg.rampX + (i * lg.rampW) / 64, L.legend.y + 3, lg.rampW / 64 + 0.5, 8, tokenColor(i / 63));
    if (m) {
      const M = m.matrix;
      const R = L.matrix;
      const n = M.n;
      const cellPx = R.w / n;
      const inset = cellPx >= 5 ? 1 : cellPx >= 3 ? 0.5 : 0;
      base.push(R.x - 1, R.y - 1, R.w + 2, R.h + 2, palette.emptyEdge);
      // One slot per cell (bands: one per sharing rank), placed once; steps only recolour them.
      cellSlot = new Int32Array(n * n + 1);
      cellShrunk = new Uint8Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const c = i * n + j;
          cellSlot[c] = cells.count;
          const x = R.x + j * cellPx + inset;
          const y = R.y + i * cellPx + inset;
          const w = cellPx - 2 * inset;
          const owner = M.owner[c] ?? -1;
          if ((M.total[c] ?? 0) <= 0 || j > i || owner !== -2) {
            cells.push(x, y, w, w, palette.empty);
            continue;
          }
          let bands = 0;
          for (let q = 0; q < 4; q++) if ((M.sharers[c * 4 + q] ?? -1) >= 0) bands++;
          bands = Math.max(1, bands);
          for (let q = 0; q < bands; q++) cells.push(x, y + (q * w) / bands, w, w / bands, palette.empty);
        }
      }
      cellSlot[n * n] = cells.count;
      // Total work per rank: the outline of each bar.
      const B = L.bars;
      const P = M.ranks;
      const bw = B.w / P;
      const F = M.steps.length;
      for (let r = 0; r < P; r++) {
        const finalWork = M.perRank[(F - 1) * P + r] ?? 0;
        const hTotal = (finalWork / Math.max(1, m.maxWork)) * B.h;
        base.push(B.x + r * bw, B.y + B.h - hTotal, bw - (bw > 4 ? 1 : 0), hTotal, palette.emptyEdge);
      }
    }
    base.flush();
    baseBuilt = true;
  }

  /** Legend row: "1 block = … tokens" on the left; "token 0 [ramp] seq−1" on the right, sized to fit. */
  function legendLayout(): { rampX: number; rampW: number; block: string; first: string; last: string } {
    const L = layout.legend;
    const m = model;
    const seq = m ? m.schedule.seq : 1;
    const blockN = formatTokens(m ? m.block : 1);
    const plural = m && m.block === 1 ? '' : 's';
    const blocks = m ? [`1 block = ${blockN} token${plural}`, `1 block = ${blockN} tok`, `block = ${blockN}`] : [''];
    const firsts = ['token 0', '0'];
    const last = formatTokens(seq - 1);
    const lastW = textWidth(last, 11);
    for (const b of blocks) {
      for (const f of firsts) {
        const used = (b ? textWidth(b, 11, true) + 12 : 0) + textWidth(f, 11) + 6 + lastW + 6;
        const rampW = Math.min(320, L.w * 0.45, L.w - used);
        if (rampW >= 48) return { rampX: L.x + L.w - lastW - 6 - rampW, rampW, block: b, first: f, last };
      }
    }
    const rampW = Math.max(24, L.w - lastW - textWidth('0', 11) - 12);
    return { rampX: L.x + L.w - lastW - 6 - rampW, rampW, block: '', first: '0', last };
  }

  function columnTitles(phase: string): Record<'q' | 'kv' | 'o', { variants: string[]; tip: string }> {
    if (phase === 'loss')
      return {
        q: { variants: ['tokens (inputs)', 'tokens'], tip: 'The input tokens of each rank’s shard.' },
        kv: { variants: ['labels = next token', 'labels'], tip: 'Targets: label i is token i+1, shifted before sharding.' },
        o: { variants: ['loss Σℓ, count', 'Σℓ, n'], tip: 'Each rank’s local loss sum and label count, then the all-reduce.' },
      };
    if (phase === 'backward')
      return {
        q: { variants: ['Q · dQ accumulates', 'Q · dQ'], tip: 'Q: the rank’s query shard; dQ accumulates in place.' },
        kv: { variants: ['K / V · dK, dV ▱', 'K / V'], tip: 'K/V block: keys in the top half, values in the bottom half. Slanted blocks (▱) are the gradients dK, dV travelling home.' },
        o: { variants: ['dO · incoming gradient', 'dO'], tip: 'dO: the gradient of the output arriving from the next layer.' },
      };
    return {
      q: { variants: ['Q · query shard (stays)', 'Q'], tip: 'Q: the rank’s query shard. It stays on the rank.' },
      kv: { variants: ['K / V · K top, V bottom', 'K / V'], tip: 'K/V block held this step: keys in the top half, values in the bottom half.' },
      o: { variants: ['O · m, l · output + softmax state', 'O · m, l'], tip: 'O: the output accumulator (acc), with the running softmax max m and sum l of every query row.' },
    };
  }

  function buildStep(stepIndex: number): void {
    for (const p of stepPools) p.reset();
    const labels: Label[] = [];
    const m = model;
    const L = layout;
    const lg = legendLayout();

    if (!m) {
      dom.setLabels(labels);
      return;
    }
    const s = m.schedule;
    const step: Step | undefined = s.steps[stepIndex];
    const phase = step?.phase ?? 'forward';
    const groupNoun = GROUP_NOUN[s.strategy] ?? GROUP_NOUN.default ?? 'node';

    // Column titles: short, the long form in the tooltip.
    const titles = columnTitles(phase);
    for (const col of L.columns) {
      const t = titles[col.id];
      labels.push({ text: fitText(t.variants, col.w - 6, 12, true), x: col.x + col.w / 2, y: L.columnTitles.y + 1, align: 'c', cls: 'ss-coltitle', title: t.tip, maxW: col.w });
    }
    const rampTip = `colour = global token position, 0 … ${formatTokens(s.seq - 1)} (the same in every column and rank)`;
    labels.push({ text: lg.first, x: lg.rampX - 5, y: L.legend.y - 1, align: 'r', cls: 'ss-small', title: rampTip });
    labels.push({ text: lg.last, x: lg.rampX + lg.rampW + 5, y: L.legend.y - 1, align: 'l', cls: 'ss-small', title: rampTip });
    if (lg.block) labels.push({ text: lg.block, x: L.legend.x, y: L.legend.y - 1, align: 'l', cls: 'ss-small ss-strong', title: `Blocks are drawn ${formatTokens(m.block)} tokens at a time; nothing is drawn per token.` });

    // Lane labels.
    const pitch = L.lanes.length > 1 ? (L.lanes[1] as LaneBox).y - (L.lanes[0] as LaneBox).y : (L.lanes[0]?.h ?? 20);
    L.lanes.forEach((lane, r) => {
      if (r % L.labelEvery !== 0 && r !== L.lanes.length - 1) return;
      if (r === L.lanes.length - 1 && r % L.labelEvery !== 0 && L.labelEvery > 1 && pitch * (r % L.labelEvery) < 12) return;
      labels.push({ text: L.labelEvery === 1 ? `rank ${r}` : `r${r}`, x: L.labels.x + L.labels.w, y: lane.y + lane.h / 2 - 7, align: 'r', cls: 'ss-rank' });
    });
    if (L.groups.length > 1) {
      // Rotated along the group's bracket, centred on the group.
      for (const g of L.groups) if (g.h >= 40) labels.push({ text: `${groupNoun} ${g.group}`, x: L.labels.x - 12, y: g.y + g.h / 2, align: 'c', cls: 'ss-group' });
    }

    // Holdings.
    if (phase === 'loss') {
      drawLoss(stepIndex, labels);
    } else {
      const holdings = m.holdings[stepIndex] ?? [];
      const idleText = fitText(['idle: block fully masked', 'idle: masked', 'idle'], column('o').w - 8, 11);
      for (const h of holdings) {
        const lane = laneOf(h.rank);
        if (!lane) continue;
        const col = column(h.column);
        const dim = h.idle ? 0.72 : 0;
        if (h.column === 'kv') {
          for (const t of ['K', 'V'] as const) {
            const y = blockY(lane, t, h.heads, m);
            drawSet(blocks, col, h.tokens, y.y, y.h, m, dim);
          }
        } else {
          const y = blockY(lane, h.tensor, h.heads, m);
          drawSet(blocks, col, h.tokens, y.y, y.h, m, dim);
        }
        if (h.idle && h.column === 'o' && lane.h >= 11) labels.push({ text: idleText, x: col.x + col.w - 4, y: lane.y + lane.h / 2 - 7, align: 'r', cls: 'ss-idle', maxW: col.w - 4 });
      }
    }

    drawMatrix(stepIndex, labels);
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
      drawSet(blocks, qc, shard.tokens, y.y, y.h, m, 0);
      // Labels: the target of token i is token i+1 (coloured by the target's position).
      const labelled = s.loss.labelled[r] ?? [];
      if (!labelBug) {
        drawSet(blocks, kc, labelled, y.y, y.h, m, 0, 1);
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
          if (seg.stride === 1) drawSet(blocks, kc, [{ start: seg.start, count: Math.max(0, seg.count - 1), stride: 1 }], y.y, y.h, m, 0, 1);
          else
            for (const piece of segmentPieces(seg, m.block, 192)) {
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
        const n = formatTokens(labelBug ? Math.max(0, tokenCount(shard.tokens) - 1) : tokenCount(labelled));
        const x = oc.x + oc.w * 0.15 + size;
        labels.push({ text: fitText([`Σℓ over ${n} labels`, `Σℓ, ${n}`], oc.x + oc.w - x - 2, 11), x, y: lane.y + lane.h / 2 - 7, align: 'l', cls: 'ss-small', maxW: oc.x + oc.w - x });
      }
    });
    const lastStep = s.steps[stepIndex];
    const reduced = lastStep?.collectives.some((c) => c.kind === 'all-reduce') ?? false;
    renderLossPanel(lost, wrong, reduced);
  }

  function drawMatrix(stepIndex: number, labels: Label[]): void {
    const m = model as Model;
    const M = m.matrix;
    const R = layout.matrix;
    const n = M.n;
    const n2 = n * n;
    const cellPx = R.w / n;
    const inset = cellPx >= 5 ? 1 : cellPx >= 3 ? 0.5 : 0;
    const f = m.progress[stepIndex] ?? -1;
    const step = m.schedule.steps[stepIndex];
    const isCurrent = step?.phase === 'forward' && step.compute.length > 0;
    const pending = mix(palette.empty, palette.emptyEdge, 0.9);
    const big = cellPx >= 9;
    // Recolour the fixed cell slots; only cells whose frame state flips get a new box.
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const c = i * n + j;
        const total = M.total[c] ?? 0;
        if (total <= 0) continue;
        const slot = cellSlot[c] as number;
        const slots = (cellSlot[c + 1] as number) - slot;
        const done = f >= 0 ? (M.cum[f * n2 + c] ?? 0) : 0;
        const frac = Math.min(1, done / total);
        const fresh = isCurrent && f >= 0 && done - (f > 0 ? (M.cum[(f - 1) * n2 + c] ?? 0) : 0) > 0;
        const shrink = fresh && big && frac > 0 ? 1 : 0;
        if (shrink !== cellShrunk[c]) {
          cellShrunk[c] = shrink;
          const x = R.x + j * cellPx + inset + shrink * 1.5;
          const y = R.y + i * cellPx + inset + shrink * 1.5;
          const w = cellPx - 2 * inset - shrink * 3;
          for (let q = 0; q < slots; q++) cells.setRect(slot + q, x, y + (q * w) / slots, w, w / slots);
        }
        if (shrink) cellFrames.push(R.x + j * cellPx, R.y + i * cellPx, cellPx, cellPx, palette.highlight);
        if (frac <= 0) {
          for (let q = 0; q < slots; q++) cells.setColor(slot + q, pending[0], pending[1], pending[2]);
          continue;
        }
        // Done earlier: muted rank colour; computed in this very step: full colour (+ a frame when cells are large).
        const k = fresh ? 1 : 0.45 + 0.3 * frac;
        const owner = M.owner[c] ?? -1;
        for (let q = 0; q < slots; q++) {
          const r = owner >= 0 ? owner : (M.sharers[c * 4 + q] ?? 0);
          const rc = rankColor(r);
          cells.setColor(slot + q, pending[0] + (rc[0] - pending[0]) * k, pending[1] + (rc[1] - pending[1]) * k, pending[2] + (rc[2] - pending[2]) * k);
        }
      }
    }
    const cellTokens = formatTokens(m.schedule.seq / n);
    const notes: string[][] = [
      ['empty = masked (k > q): skipped', 'empty = masked (k > q)', 'empty = masked'],
      [`1 cell = ${cellTokens} × ${cellTokens} tokens`, `1 cell = ${cellTokens}² tokens`, `cell = ${cellTokens}²`],
      ['bright = computed in this step', 'bright = this step'],
      ...(m.shared ? [['bands = shared by several ranks', 'bands = shared']] : []),
    ];
    const titleRight = layout.stacked || layout.wide ? layout.panel.x - 10 : layout.width - 8;
    const matrixTip = `Causal work matrix: query blocks down, key blocks across; each cell is coloured by the rank that computed it. ${notes.map((v) => v[0]).join('; ')}.`;
    labels.push({ text: fitText(['causal work: query ↓ × key →, colour = rank', 'causal work: q ↓ × k →, colour = rank', 'causal work: q ↓ × k →', 'causal work', 'work'], titleRight - R.x, 12, true), x: R.x, y: R.y - 17, align: 'l', cls: 'ss-coltitle', title: matrixTip, maxW: titleRight - R.x });
    labels.push({ text: 'q', x: R.x - 10, y: R.y + R.h / 2 - 7, align: 'c', cls: 'ss-small' });
    // Notes sit in the empty (masked) upper triangle, on a backdrop, only where they clear the cells.
    let line = 0;
    for (const variants of notes) {
      const y = R.y + 3 + line * 15;
      const row = Math.floor((y + 15 - R.y) / cellPx);
      const avail = R.w - (row + 1) * cellPx - 8;
      const fit = variants.find((v) => textWidth(v, 11) + 6 <= avail);
      if (!fit || y + 15 > R.y + R.h) break;
      labels.push({ text: fit, x: R.x + R.w - 2, y, align: 'r', cls: 'ss-small ss-note' });
      line++;
    }

    // Work bars per rank: done so far (rank colour) over the total (outline colour, in base).
    const B = layout.bars;
    const P = M.ranks;
    const bw = B.w / P;
    for (let r = 0; r < P; r++) {
      const now = f >= 0 ? (M.perRank[f * P + r] ?? 0) : 0;
      const hNow = (now / Math.max(1, m.maxWork)) * B.h;
      blocks.push(B.x + r * bw, B.y + B.h - hNow, bw - (bw > 4 ? 1 : 0), hNow, rankColor(r));
    }
    const ratio = m.busiestRatio;
    const rs = Number.isFinite(ratio) ? `${ratio.toFixed(ratio < 10 ? 2 : 0)}×` : '∞';
    const barsRight = layout.stacked || layout.wide ? layout.panel.x - 10 : layout.width - 8;
    labels.push({
      text: fitText([`attention work per rank (busiest/idlest ${rs})`, `work per rank (busiest/idlest ${rs})`, `work per rank, max/min ${rs}`, `max/min ${rs}`, rs], barsRight - B.x, 11),
      x: B.x,
      y: B.y - 16,
      align: 'l',
      cls: 'ss-small',
      title: `Attention work per rank: the coloured part is done so far, the outline is the rank's total. Busiest rank / idlest rank = ${rs}.`,
      maxW: barsRight - B.x,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Moving blocks of the current step (every frame).

  /** Per track of the current step: everything but the interpolation, computed once per step. */
  interface TrackGeo {
    readonly tr: Track;
    readonly col: ColumnBox;
    readonly ya: { y: number; h: number };
    readonly yb: { y: number; h: number };
    readonly arcMax: number;
    readonly pool: Pool;
    readonly pieces: { readonly rects: Float64Array; readonly colors: Float32Array };
  }
  let trackGeo: TrackGeo[] = [];
  // Per step, for the current schedule and layout (cleared by relayout): a step seen once is free after.
  const trackGeoCache = new Map<number, TrackGeo[]>();

  function prepareTracks(stepIndex: number): void {
    const hit = trackGeoCache.get(stepIndex);
    if (hit) {
      trackGeo = hit;
      return;
    }
    trackGeo = [];
    const m = model;
    if (!m) return;
    trackGeoCache.set(stepIndex, trackGeo);
    const pitch = layout.lanes.length > 1 ? (layout.lanes[1] as LaneBox).y - (layout.lanes[0] as LaneBox).y : 20;
    for (const tr of tracks) {
      if (tr.local || tr.tensor === 'loss') continue;
      const a = laneOf(tr.src);
      const b = laneOf(tr.dst);
      if (!a || !b) continue;
      const col = column(columnOf(tr.tensor));
      trackGeo.push({
        tr,
        col,
        ya: blockY(a, tr.tensor, tr.heads, m),
        yb: blockY(b, tr.tensor, tr.heads, m),
        arcMax: Math.min(col.w * 0.12, 4 + Math.abs(tr.dst - tr.src) * pitch * 0.12),
        pool: isGradient(tr.tensor) ? flyGrad : fly,
        pieces: piecesOf(tr.tokens, m),
      });
    }
  }

  function drawTracks(progress: number): void {
    for (const p of flyPools) p.reset();
    const m = model;
    if (!m || tracks.length === 0) {
      for (const p of flyPools) p.flush();
      return;
    }
    // Hold on the source for the first 15%, travel, rest on the destination for the last 15%.
    const t = ease(Math.min(1, Math.max(0, (progress - 0.15) / 0.7)));
    const pitch = layout.lanes.length > 1 ? (layout.lanes[1] as LaneBox).y - (layout.lanes[0] as LaneBox).y : 20;
    for (const tr of tracks) {
      if (tr.local || tr.tensor !== 'loss') continue;
      const a = laneOf(tr.src);
      const b = laneOf(tr.dst);
      if (!a || !b) continue;
      const oc = column('o');
      const size = Math.max(5, Math.min(14, a.h * 0.8));
      const y0 = a.y + a.h / 2;
      const y1 = b.y + b.h / 2;
      const arc = Math.sin(Math.PI * t) * Math.min(oc.w * 0.3, 10 + Math.abs(tr.dst - tr.src) * pitch * 0.2);
      flyMark.push(oc.x + oc.w * 0.15 - size / 2 + arc, y0 + (y1 - y0) * t - size / 2, size, size, rankColor(tr.src));
    }
    const sinT = Math.sin(Math.PI * t);
    const rim = palette.highlight;
    const seq = m.schedule.seq;
    for (const g of trackGeo) {
      const y = g.ya.y + (g.yb.y - g.ya.y) * t;
      const h = g.ya.h + (g.yb.h - g.ya.h) * t;
      const arc = sinT * g.arcMax;
      const k = g.col.w / seq;
      const { rects, colors } = g.pieces;
      const pool = g.pool;
      const n = rects.length / 2;
      for (let i = 0; i < n; i++) {
        const t0 = rects[2 * i] as number;
        const x = g.col.x + t0 * k + arc;
        const sw = ((rects[2 * i + 1] as number) - t0) * k;
        // A light rim so moving blocks stand out from held ones.
        if (h >= 4 && sw >= 4) pool.push(x - 1, y - 1, Math.max(1, sw) + 2, h + 2, rim);
        if (pool.count >= pool.capacity) {
          pool.dropped++;
          continue;
        }
        const j = pool.count++;
        pool.setRect(j, x, y, Math.max(1, sw - (sw > 4 ? 1 : 0)), h);
        pool.setColor(j, colors[3 * i] as number, colors[3 * i + 1] as number, colors[3 * i + 2] as number);
      }
    }
    for (const p of flyPools) p.flush();
  }

  // -------------------------------------------------------------------------------------------
  // DOM panels: caption, softmax merge, loss, notes.

  function renderCaption(stepIndex: number): void {
    const m = model;
    if (!m) {
      setText(dom.caption, invalidReason ?? '');
      setText(dom.badge, '');
      return;
    }
    const step = m.schedule.steps[stepIndex];
    setText(dom.caption, step?.caption ?? '');
    setText(dom.badge, step ? badgeText(step) : '');
    const phase = step?.phase ?? '';
    if (dom.badge.dataset.phase !== phase) dom.badge.dataset.phase = phase;
  }

  function badgeText(step: Step): string {
    const kinds = [...new Set(step.collectives.map((c) => c.label))];
    return `${step.phase}${kinds.length ? ` · ${kinds.join(' · ')}` : ' · compute only'}`;
  }

  /** Lines `text` takes at `size` px in `w` px (word wrap wastes a little of each line). */
  function linesOf(t: string, size: number, w: number, bold = false): number {
    return Math.max(1, Math.ceil((textWidth(t, size, bold) * 1.08) / Math.max(40, w)));
  }

  const PANEL_LINE = 15;
  const ROW_H = 16;
  const FORMULA = ['m ← max(m, rowmax S)', 'l ← l·e^(m_old−m) + Σ e^(S−m)', 'acc ← acc·e^(m_old−m) + e^(S−m)·V'];

  /** Builds the softmax panel's nodes for the current schedule, verification and panel size. */
  function buildSoftmaxPanel(): SoftmaxPanel | null {
    const m = model;
    if (!m) return null;
    const s = m.schedule;
    const P = layout.panel;
    const trace = readTrace(verification?.softmaxTrace ?? null);
    // The traced rank when the verification run traced one (same strategy and ranks), else the last rank.
    const rank = trace.rank !== null && trace.rank < s.ranks ? trace.rank : s.ranks - 1;
    const rows: SoftmaxRow[] = softmaxRows(s, rank, verification?.softmaxTrace ?? null);
    const traced = rows.some((r) => r.m !== null);
    const W = P.w - 4;
    // Columns by measured width: the longest block name decides what else fits (bold: the current row).
    let blockW = textWidth('K/V tokens arriving', 11.5, true);
    for (const r of rows) blockW = Math.max(blockW, textWidth(r.block, 11.5, true));
    const fits = (cols: readonly number[]): boolean => cols.reduce((a, c) => a + c + 6, 0) <= W;
    const stepW = 34;
    const num = 52;
    const longWork = textWidth('merge: rescale by e^(m_old−m), add', 11.5, true);
    const shortWork = textWidth('masked: skipped', 11.5, true);
    const headers = traced
      ? fits([stepW, blockW, num, num, 80, 150])
        ? ['step', 'K/V tokens', 'm', 'l', 'e^(m_old−m)', 'acc[0..2]']
        : fits([stepW, blockW, num, num, 80])
          ? ['step', 'K/V tokens', 'm', 'l', 'e^(m_old−m)']
          : fits([stepW, blockW, num, num])
            ? ['step', 'K/V tokens', 'm', 'l']
            : ['#', 'K/V tokens', 'm']
      : fits([stepW, blockW, longWork])
        ? ['step', 'K/V block arriving', 'work']
        : fits([stepW, blockW, shortWork])
          ? ['#', 'K/V tokens', 'work ']
          : ['#', 'K/V tokens arriving'];
    const note = traced
      ? `Query token ${trace.token ?? '?'}, head ${trace.head ?? '?'}, read back from the ${verification?.backend === 'cpu' ? 'CPU reference' : 'GPU'} run at ${verification?.seqLen ?? '?'} executed tokens (the blocks above are the modelled ones). At the end O = acc / l.`
      : verification
        ? 'This run did not trace a row; at the end O = acc / l.'
        : 'Waiting for the verification run for real numbers. At the end O = acc / l.';
    const formulaOne = FORMULA.join('   ');
    const title = fitText([`online softmax merge on rank ${rank}, as each K/V block arrives`, `online softmax merge on rank ${rank}`, `softmax merge, rank ${rank}`], W, 12, true);
    // Height budget: title, formula (1 or 3 lines, or only in the tooltip), table, note (or only in the tooltip).
    const titleH = linesOf(title, 12, W, true) * PANEL_LINE + 3;
    // The formula is monospace: ~0.62 em per character.
    const mono = (t: string): number => t.length * 11.5 * 0.62;
    let formulaLines = mono(formulaOne) <= W ? 1 : FORMULA.reduce((a, f) => a + Math.ceil(mono(f) / W), 0);
    let noteH = linesOf(note, 11.5, W) * PANEL_LINE + 3;
    const rowsFor = (): number => Math.floor((P.h - titleH - formulaLines * PANEL_LINE - 5 - noteH - ROW_H - 2) / ROW_H);
    if (rowsFor() < 3) noteH = 0;
    if (rowsFor() < 3) formulaLines = 0;
    const maxRows = Math.max(1, Math.min(8, rowsFor(), rows.length));
    const tip = `${FORMULA.join('\n')}\n${note}`;

    dom.panel.replaceChildren();
    dom.panel.title = tip;
    text(dom.panel, 'div', title, 'ss-panel-title');
    if (formulaLines === 1) text(dom.panel, 'div', formulaOne, 'ss-formula');
    else if (formulaLines > 1) for (const f of FORMULA) text(dom.panel, 'div', f, 'ss-formula');
    const table = document.createElement('table');
    table.className = 'ss-softmax';
    const hr = document.createElement('tr');
    for (const h of headers) text(hr, 'th', h);
    table.append(hr);
    const slots: SoftmaxPanel['slots'][number][] = [];
    for (let i = 0; i < maxRows; i++) {
      const tr = document.createElement('tr');
      const cellsOut = headers.map(() => {
        const td = document.createElement('td');
        tr.append(td);
        return td;
      });
      table.append(tr);
      slots.push({ tr, cells: cellsOut, cls: '' });
    }
    dom.panel.append(table);
    if (noteH > 0) text(dom.panel, 'div', note, 'ss-small-block');
    return { key: panelKey(), rows, cols: headers.length, slots, header2: headers[2] ?? '' };
  }

  function panelKey(): string {
    const P = layout.panel;
    return `${P.w}x${P.h}`;
  }

  function renderSoftmaxPanel(stepIndex: number): void {
    if (!model) {
      dom.panel.replaceChildren();
      softmax = null;
      return;
    }
    if (!softmax || panelMode !== 'softmax' || softmax.key !== panelKey()) {
      softmax = buildSoftmaxPanel();
      panelMode = 'softmax';
    }
    const sp = softmax;
    if (!sp) return;
    const rows = sp.rows;
    // Keep the current step in view: the rows around it.
    const n = sp.slots.length;
    const at = Math.max(0, rows.findIndex((r) => r.step >= stepIndex));
    const from = Math.max(0, Math.min(rows.length - n, at - Math.floor((n - 1) / 2)));
    sp.slots.forEach((slot, i) => {
      const row = rows[from + i];
      if (!row) {
        if (!slot.tr.hidden) slot.tr.hidden = true;
        return;
      }
      if (slot.tr.hidden) slot.tr.hidden = false;
      const cls = row.step === stepIndex ? 'ss-current' : row.step > stepIndex ? 'ss-future' : '';
      if (slot.cls !== cls) {
        slot.cls = cls;
        slot.tr.className = cls;
      }
      const c = slot.cells;
      setText(c[0] as HTMLElement, String(row.step + 1));
      setText(c[1] as HTMLElement, sp.cols === 2 && row.skipped ? `${row.block}: masked` : row.block);
      if (row.m !== null || sp.cols >= 4) {
        if (c[2]) setText(c[2], row.m === null ? '—' : row.m.toPrecision(4));
        if (c[3]) setText(c[3], row.l === null ? '—' : row.l.toPrecision(4));
        if (c[4]) setText(c[4], row.skipped ? 'skipped' : row.scale === null ? '—' : row.scale.toPrecision(3));
        if (c[5]) setText(c[5], row.acc ? row.acc.map((a) => a.toPrecision(3)).join(', ') : '—');
      } else if (c[2]) {
        const short = sp.slots[0] !== undefined && sp.header2 !== 'work';
        setText(c[2], row.skipped ? (short ? 'masked: skipped' : 'masked: skipped, m and l unchanged') : short ? 'merge, rescale' : 'merge: rescale by e^(m_old−m), add');
      }
    });
  }

  function renderLossPanel(lost: number, wrong: number, reduced: boolean): void {
    const m = model as Model;
    const key = `${lost}|${wrong}|${reduced}|${labelBug}|${panelKey()}`;
    if (panelMode === 'loss' && lossKey === key) return;
    panelMode = 'loss';
    lossKey = key;
    softmax = null;
    dom.panel.replaceChildren();
    dom.panel.removeAttribute('title');
    const W = layout.panel.w - 4;
    text(dom.panel, 'div', fitText(['loss: local cross-entropy, then all-reduce (sum, count)', 'loss: local CE, all-reduce (sum, count)', 'loss: all-reduce (sum, count)'], W, 12, true), 'ss-panel-title');
    const row = document.createElement('label');
    row.className = 'ss-toggle';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = labelBug;
    box.addEventListener('change', () => {
      labelBug = box.checked;
      builtStep = -1;
    });
    row.append(box, document.createTextNode(W >= 300 ? ' show the bug: shift labels per shard, after sharding' : ' show the per-shard shift bug'));
    dom.panel.append(row);
    const s = m.schedule;
    const parts: { t: string; cls: string }[] = [];
    if (reduced) parts.push({ t: `After the all-reduce: mean loss = Σℓ / ${formatTokens(Math.max(0, s.seq - 1))} labels.`, cls: 'ss-small-block ss-strong' });
    if (!labelBug) parts.push({ t: `Right: labels = tokens[1:] before sharding. ${formatTokens(Math.max(0, s.seq - 1))} targets, none lost; ◆ marks a shard’s last token, whose target is the next shard’s first token (no communication needed).`, cls: 'ss-small-block' });
    else
      parts.push({
        t: `Bug: each rank shifts its own buffer. ${lost} label${lost === 1 ? '' : 's'} lost (◆, one per shard boundary)${wrong ? `, ${formatTokens(wrong)} wrong (▱: the buffer’s next token is not the sequence’s next token)` : ''}. The loss silently trains on fewer or wrong targets.`,
        cls: 'ss-small-block ss-bug',
      });
    if (s.strategy === 'zigzag' || s.strategy === 'striped' || s.strategy === 'allgather') parts.push({ t: 'Permuted layout: labels and position ids are permuted exactly like the tokens.', cls: 'ss-small-block' });
    // Whatever does not fit goes into the tooltip.
    let used = 2 * PANEL_LINE + 6;
    const hidden: string[] = [];
    for (const p of parts) {
      const h = linesOf(p.t, 11.5, W) * PANEL_LINE + 3;
      if (used + h <= layout.panel.h) {
        text(dom.panel, 'div', p.t, p.cls);
        used += h;
      } else hidden.push(p.t);
    }
    if (hidden.length) dom.panel.title = hidden.join('\n');
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
    text(dom.notes, 'h4', 'Reading the picture');
    const key = document.createElement('ul');
    for (const line of READING_KEY) text(key, 'li', line);
    dom.notes.append(key);
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
    dom.header.title = `${dom.title.textContent}${dom.subtitle.textContent}`;
  }

  // -------------------------------------------------------------------------------------------

  function setSchedule(schedule: Schedule, params: Params): void {
    builtStep = -1;
    lastKey = '';
    tracks = [];
    softmax = null;
    panelMode = '';
    strategyTitle = narrationFor(schedule.strategy).title;
    if (!schedule.valid) {
      model = null;
      invalidReason = schedule.reason;
      dom.invalid.hidden = false;
      dom.invalid.textContent = `${strategyTitle} cannot run these settings: ${schedule.reason}`;
      dom.panel.replaceChildren();
    } else {
      invalidReason = null;
      dom.invalid.hidden = true;
      // Everything a step change needs, computed once here rather than on every step.
      const n = matrixCells(schedule.seq, schedule.ranks);
      const matrix = buildWorkMatrix(schedule, n);
      const F = Math.max(1, matrix.steps.length);
      const P = schedule.ranks;
      let maxWork = 0;
      let minWork = Infinity;
      for (let r = 0; r < P; r++) {
        const w = matrix.perRank[(F - 1) * P + r] ?? 0;
        maxWork = Math.max(maxWork, w);
        minWork = Math.min(minWork, w);
      }
      const progress = new Int32Array(schedule.steps.length);
      schedule.steps.forEach((st, i) => {
        progress[i] = st.phase === 'forward' ? forwardProgress(matrix, i) : matrix.steps.length - 1;
      });
      let shared = false;
      for (let c = 0; c < n * n && !shared; c++) if ((matrix.owner[c] ?? -1) === -2) shared = true;
      let captionW = 0;
      for (const st of schedule.steps) captionW = Math.max(captionW, textWidth(badgeText(st), 11, true) + 18 + textWidth(st.caption, CAPTION_FONT));
      model = {
        schedule,
        params,
        block: displayBlockTokens(schedule.seq, schedule.ranks),
        matrix,
        maxWork,
        groups: schedule.shards.map((x) => x.node),
        holdings: holdingsTimeline(schedule, { heads: params.heads, kvHeads: params.kvHeads }),
        tracks: deriveTracks(schedule),
        progress,
        shared,
        captionW,
        pieces: new WeakMap(),
        busiestRatio: minWork > 0 ? maxWork / minWork : Infinity,
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
    // Reading the canvas size forces a layout after DOM changes: only when it may have changed.
    if (sizeDirty) {
      if (observer) sizeDirty = false;
      if (measure()) relayout();
    }
    const m = model;
    const stepIndex = m ? Math.max(0, Math.min(m.schedule.steps.length - 1, playback.step)) : 0;
    if (!baseBuilt) {
      buildBase();
      builtStep = -1;
    }
    if (builtStep !== stepIndex) {
      buildStep(stepIndex);
      for (const p of stepPools) p.flush();
      cells.flush();
      tracks = m ? (m.tracks[stepIndex] ?? []) : [];
      prepareTracks(stepIndex);
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
    sizeDirty = false;
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
      softmax = null;
      builtStep = -1;
    },
    render,
    update,
    resize: onResize,
    setTheme(next) {
      theme = next;
      palette = PALETTES[next];
      applyTheme();
      baseBuilt = false;
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
