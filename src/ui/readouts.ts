// The readouts in #readouts: memory per rank, communication, timeline, balance and the
// verification result. DOM text for every number (crisp, selectable, read by screen readers),
// canvas for the charts (each with an aria-label that says what it shows).

import type { Plan } from '../model/plan.ts';
import { countOf, formatBytes, formatRatio, formatSeconds, formatSpan } from '../model/format.ts';
import { balanceSummary, commSummary, memoryData, memorySummary, perIterationSummary, timelineSummary, type CommSummary, type MemoryData } from './readoutData.ts';
import { drawBalanceChart, drawChart, drawMemoryChart, drawTimelineChart } from './charts.ts';
import { CATEGORY_COLOR, CATEGORY_LABEL, CATEGORY_ORDER, chartStyle, TIMELINE_COLOR } from './palette.ts';
import type { Theme } from './urlState.ts';
import { el, setAttr, setText } from './dom.ts';
import { sentence } from '../app/messages.ts';
import { measureSince } from '../app/measure.ts';

/** What the readouts need of a verification result (see src/gpu/verify.ts). */
export interface VerificationView {
  readonly running: boolean;
  readonly error: string | null;
  readonly result: {
    readonly strategy: string;
    readonly ranks: number;
    readonly seqLen: number;
    readonly heads: number;
    readonly headDim: number;
    readonly maxAbsError: number;
    readonly maxRelError: number;
    readonly gpuMs: number | null;
    readonly backend: string;
    readonly localMask: boolean;
    /** The backward phase (src/gpu/verify.ts BackwardVerification), when it ran. */
    readonly backward?: {
      readonly maxAbsErrorDq: number;
      readonly maxAbsErrorDk: number;
      readonly maxAbsErrorDv: number;
      readonly relativeError: number;
      readonly gpuMs: number | null;
    } | null;
    readonly backwardError?: string | null;
  } | null;
  /** The execution budget in one sentence, and the clamp when the budget shrank the run (src/app/verification.ts). */
  readonly budgetText?: string;
  readonly clampText?: string;
}

/** The backward passes when max |error| ≤ this × the largest gradient magnitude (the issue's fp32 tolerance). */
export const PASS_BACKWARD_RELATIVE = 1e-4;

/** Below this max |error| the sharded result counts as equal to the unsharded one (f32 round-off). */
export const PASS_ABS_ERROR = 1e-3;

export interface ReadoutInput {
  readonly plan: Plan;
  readonly step: number;
  readonly theme: Theme;
}

function section(id: string, title: string): { root: HTMLElement; body: HTMLElement } {
  const heading = el('h2', { id: `${id}-title` }, title);
  const body = el('div', { class: 'ro-body' });
  const root = el('section', { id, class: 'ro-section', 'aria-labelledby': `${id}-title` }, heading, body);
  return { root, body };
}

export class Readouts {
  readonly #root: HTMLElement;
  #input: ReadoutInput | null = null;
  #verification: VerificationView = { running: false, error: null, result: null };

  // Memory
  readonly #invalid = el('p', { id: 'ro-invalid', class: 'ro-invalid', role: 'alert', hidden: '' });
  readonly #memSummary = el('p', { id: 'ro-mem-summary', class: 'ro-summary' });
  readonly #memPeak = el('strong', { id: 'ro-mem-peak' });
  readonly #memNow = el('span', { id: 'ro-mem-now' });
  readonly #memCompare = el('p', { id: 'ro-mem-compare', class: 'ro-note ro-compare' });
  readonly #oom = el('p', { id: 'ro-oom', class: 'ro-oom', role: 'alert', hidden: '' });
  readonly #memCanvas = el('canvas', { id: 'ro-mem-canvas', role: 'img', class: 'ro-canvas' });
  readonly #memLegend = el('ul', { id: 'ro-mem-legend', class: 'ro-legend' });
  readonly #memLegendValues = new Map<string, HTMLElement>();
  // Communication
  readonly #commTable = el('table', { id: 'ro-comm-table', class: 'ro-table' });
  /** The table's cells to rewrite, for the row kinds they were built for. */
  #commCells: { kinds: string; caption: HTMLElement; rows: (readonly [HTMLElement, HTMLElement])[]; total: readonly [HTMLElement, HTMLElement] } | null = null;
  readonly #commNote = el('p', { class: 'ro-note' });
  // Timeline
  readonly #tlSummary = el('p', { id: 'ro-tl-summary', class: 'ro-summary' });
  readonly #tlCanvas = el('canvas', { id: 'ro-tl-canvas', role: 'img', class: 'ro-canvas', title: 'Per layer: attention steps plus the projections and MLP (GEMMs), and the recomputed forward under full recompute.' });
  readonly #tlOverlap = el('p', { id: 'ro-tl-overlap', class: 'ro-note' });
  // Balance
  readonly #balSummary = el('p', { id: 'ro-bal-summary', class: 'ro-summary' });
  readonly #balCanvas = el('canvas', { id: 'ro-bal-canvas', role: 'img', class: 'ro-canvas' });
  readonly #balMeasured = el('p', { id: 'ro-bal-measured', class: 'ro-note' });
  // Verification
  readonly #verify = el('p', { id: 'ro-verify', class: 'ro-verify', 'aria-live': 'polite' });
  readonly #verifyDetail = el('p', { id: 'ro-verify-detail', class: 'ro-note' });
  readonly #verifyBudget = el('p', { id: 'ro-verify-budget', class: 'ro-note' });
  readonly #verifyBackward = el('p', { id: 'ro-verify-backward', class: 'ro-verify', 'aria-live': 'polite' });

  readonly #sections: HTMLElement[] = [];
  /** Canvases known to be off screen (absent: not yet reported, drawn). */
  readonly #visible = new WeakMap<Element, boolean>();
  readonly #widths = new WeakMap<Element, number>();
  /** The inputs each canvas was last drawn for, so a redraw happens only when they changed. */
  readonly #drawnFor = new WeakMap<Element, string>();
  #chartsPending = false;
  readonly #drawnPlan = new WeakMap<Element, ReadoutInput>();

  constructor(root: HTMLElement) {
    this.#root = root;
    const memory = section('ro-memory', 'Memory per rank');
    for (const k of CATEGORY_ORDER) {
      const value = el('span', { class: 'ro-legend-value' });
      this.#memLegendValues.set(k, value);
      const swatch = el('span', { class: 'ro-swatch', 'aria-hidden': 'true' });
      swatch.style.background = CATEGORY_COLOR[k];
      this.#memLegend.append(el('li', { 'data-category': k }, swatch, el('span', { class: 'ro-legend-label' }, CATEGORY_LABEL[k]), value));
    }
    const keyNow = el('li', { class: 'ro-legend-key' }, el('span', { class: 'ro-swatch ro-swatch-now', 'aria-hidden': 'true' }), 'now (this step)');
    const keyGhost = el('li', { class: 'ro-legend-key' }, el('span', { class: 'ro-swatch ro-swatch-ghost', 'aria-hidden': 'true' }), 'no SP (same model, 1 rank)');
    this.#memLegend.append(keyNow, keyGhost);
    const legendNote = el('p', { class: 'ro-note' }, 'Bars: what is resident at each rank’s peak step. Values: each category’s maximum over the steps, in the CLI’s units.');
    memory.body.append(this.#invalid, this.#memSummary, this.#memCompare, this.#oom, this.#memCanvas, this.#memLegend, legendNote);

    const comm = section('ro-comm', 'Communication per rank, per layer');
    comm.body.append(this.#commTable, this.#commNote);

    const timeline = section('ro-timeline', 'Timeline of one layer');
    const tlLegend = el(
      'ul',
      { class: 'ro-legend ro-legend-inline' },
      this.#key(TIMELINE_COLOR.compute, 'compute'),
      this.#key(TIMELINE_COLOR.comm, 'communication (thin)'),
      this.#key(TIMELINE_COLOR.exposed, 'exposed (hatched)', true),
    );
    timeline.body.append(this.#tlSummary, this.#tlCanvas, tlLegend, this.#tlOverlap);

    const balance = section('ro-balance', 'Causal work per rank');
    balance.body.append(this.#balSummary, this.#balCanvas, this.#balMeasured);

    const verify = section('ro-verification', 'Sharded = unsharded?');
    verify.body.append(this.#verify, this.#verifyBackward, this.#verifyDetail, this.#verifyBudget);

    this.#sections.push(memory.root, comm.root, timeline.root, balance.root, verify.root);
    root.replaceChildren(...this.#sections);
    // Each canvas's width as its ResizeObserver reports it: reading clientWidth when drawing forced a
    // layout of the page after every change (the text readouts had just been rewritten).
    const sizes = new ResizeObserver((entries) => {
      for (const e of entries) this.#widths.set(e.target, e.contentRect.width);
      this.#scheduleCharts();
    });
    for (const c of [this.#memCanvas, this.#tlCanvas, this.#balCanvas]) sizes.observe(c);
    // Charts off screen (the readouts column scrolled, an embed without them) are not drawn until
    // they come into view: at 64 ranks the timeline alone is thousands of cells.
    if (typeof IntersectionObserver === 'function') {
      const io = new IntersectionObserver((entries) => {
        for (const e of entries) this.#visible.set(e.target, e.isIntersecting);
        if (entries.some((e) => e.isIntersecting)) this.#scheduleCharts();
      });
      for (const c of [this.#memCanvas, this.#tlCanvas, this.#balCanvas]) io.observe(c);
    }
  }

  #key(color: string, label: string, hatched = false): HTMLElement {
    const swatch = el('span', { class: hatched ? 'ro-swatch ro-swatch-hatch' : 'ro-swatch', 'aria-hidden': 'true' });
    swatch.style.setProperty('--swatch', color);
    swatch.style.background = hatched ? '' : color;
    return el('li', {}, swatch, label);
  }

  update(input: ReadoutInput): void {
    this.#input = input;
    const { plan, step } = input;
    const valid = plan.valid && plan.perRank.length > 0;
    this.#invalid.hidden = valid;
    setText(this.#invalid, valid ? '' : `This combination cannot run: ${sentence(plan.reason ?? 'invalid parameters')} Pick another strategy or rank count in the panel.`);
    for (const s of this.#sections.slice(1)) s.classList.toggle('ro-disabled', !valid);
    this.#memCanvas.hidden = !valid;
    if (!valid) {
      setText(this.#memPeak, '–');
      setText(this.#memNow, '–');
      setText(this.#memCompare, '');
      this.#oom.hidden = true;
      setText(this.#commNote, '');
      this.#commTable.replaceChildren();
      this.#commCells = null;
      setText(this.#tlSummary, '');
      setText(this.#tlOverlap, '');
      setText(this.#balSummary, '');
      this.#scheduleCharts();
      return;
    }
    const data = memoryData(plan, step);
    const mem = memorySummary(data);
    const nowValues = data.ranks.map((r) => r.now);
    const nowText = formatRange(nowValues);
    setText(this.#memPeak, mem.peak);
    setText(this.#memNow, `${nowText} at step ${step + 1} of ${data.stepCount}`);
    if (this.#memSummary.childNodes.length === 0) this.#memSummary.append('Peak ', this.#memPeak, ' per rank · now ', this.#memNow);
    setText(
      this.#memCompare,
      `${data.gpuName} holds ${mem.capacity} · without SP: ${mem.baseline}` + (data.maxPeak > 0 && data.baseline.peak > data.maxPeak ? `, ${formatRatio(data.baseline.peak / data.maxPeak)} more` : ''),
    );
    const oomRanks = data.ranks.filter((r) => r.oom);
    this.#oom.hidden = oomRanks.length === 0;
    setText(
      this.#oom,
      oomRanks.length === 0
        ? ''
        : `⚠ Out of memory on ${oomRanks.length === data.ranks.length ? 'every rank' : `${oomRanks.length} of ${countOf(data.ranks.length, 'rank')}`}: ${formatBytes(data.maxPeak)} > ${mem.capacity}. Try more ranks, ZeRO, recompute or flash attention.`,
    );
    setAttr(this.#memCanvas, 'aria-label', mem.aria);
    mem.rows.forEach((row, i) => {
      const key = CATEGORY_ORDER[i];
      const node = key ? this.#memLegendValues.get(key) : undefined;
      if (node) setText(node, row.value);
    });

    const comm = commSummary(plan);
    this.#renderCommTable(comm);
    setText(
      this.#commNote,
      (comm.rows.length === 0 ? 'One rank: nothing to send. ' : comm.uniform ? 'Every rank sends the same. ' : 'Ranks differ: the range is min – max over ranks. ') +
        `Loss all-reduce: ${comm.loss} once per step. ${perIterationSummary(plan)}`,
    );

    const tl = timelineSummary(plan);
    setText(this.#tlSummary, `Forward ${tl.forward} · backward ${tl.backward} · exposed communication ${tl.exposed} (slowest rank, per layer)`);
    setAttr(this.#tlCanvas, 'aria-label', tl.aria);
    setText(this.#tlOverlap, tl.overlap);
    setAttr(this.#tlOverlap, 'data-ok', tl.overlapOk === null ? '' : String(tl.overlapOk));

    const bal = balanceSummary(plan);
    setText(this.#balSummary, `${bal.range} per rank per layer (forward) · busiest ${bal.ratio} the mean · ideal ${bal.ideal}`);
    this.#balMeasured.hidden = bal.measured === '';
    setText(this.#balMeasured, bal.measured ? `Measured ${bal.measured} of theoretical: ${bal.measuredSource}.` : '');
    setAttr(this.#balCanvas, 'aria-label', bal.aria);

    this.#scheduleCharts();
  }

  /**
   * The communication table. Its cells are rewritten in place while the collectives are the same
   * kinds (a slider drag); new rows only when they change.
   */
  #renderCommTable(comm: CommSummary): void {
    const kinds = comm.rows.map((r) => r.kind).join('|');
    let cells = this.#commCells;
    if (!cells || cells.kinds !== kinds) {
      const rows = comm.rows.map((r) => [el('th', { scope: 'row' }, r.kind), el('td'), el('td')] as const);
      const total = [el('td', { id: 'ro-comm-fwd' }), el('td', { id: 'ro-comm-bwd' })] as const;
      const caption = el('caption', { class: 'sr-only' });
      const head = el('tr', {}, el('th', { scope: 'col' }, 'collective'), el('th', { scope: 'col' }, 'forward'), el('th', { scope: 'col' }, 'backward'));
      const body = el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r)), el('tr', { class: 'ro-total' }, el('th', { scope: 'row' }, 'total sent'), ...total));
      this.#commTable.replaceChildren(caption, el('thead', {}, head), body);
      cells = this.#commCells = { kinds, caption, rows: rows.map(([, f, b]) => [f, b] as const), total };
    }
    setText(cells.caption, comm.aria);
    comm.rows.forEach((r, i) => {
      const [f, b] = cells.rows[i] ?? [];
      if (f && b) {
        setText(f, r.forward);
        setText(b, r.backward);
      }
    });
    setText(cells.total[0], comm.total.forward);
    setText(cells.total[1], comm.total.backward);
  }

  setVerification(status: VerificationView): void {
    this.#verification = status;
    const r = status.result;
    let headline: string;
    let detail = '';
    let state: 'pass' | 'fail' | 'pending' | 'error';
    if (status.error && !status.running) {
      state = 'error';
      headline = `Not checked: ${status.error}`;
    } else if (!r) {
      state = 'pending';
      headline = 'Checking the sharded attention against the unsharded result…';
    } else {
      const pass = r.maxAbsError < PASS_ABS_ERROR;
      state = pass ? 'pass' : 'fail';
      const err = `max |error| ${r.maxAbsError.toExponential(2)} (relative ${r.maxRelError.toExponential(2)})`;
      headline = pass
        ? `✓ Forward: sharded attention equals the unsharded result: ${err}.`
        : r.localMask
          ? `✗ Forward with the local mask: the result is wrong: ${err}. Masking by local position computes a different model.`
          : `✗ Forward: the sharded result differs from the unsharded one: ${err}.`;
      const where = r.backend === 'gpu' ? 'on the GPU (WebGPU)' : 'on the CPU (no WebGPU)';
      detail = `${countOf(r.ranks, 'rank')} × ${r.seqLen} tokens executed ${where}, ${r.heads} heads × ${r.headDim} in fp32 (dtype prices memory only)` + (r.gpuMs != null ? `, ${formatSeconds(r.gpuMs / 1000)}` : '') + (status.running ? ' · rechecking…' : '');
    }
    setText(this.#verify, headline);
    this.#verify.dataset.state = state;
    setText(this.#verifyDetail, detail);
    const bw = backwardLine(r);
    setText(this.#verifyBackward, bw.text);
    this.#verifyBackward.dataset.state = bw.state;
    this.#verifyBackward.hidden = bw.text === '';
    setText(this.#verifyBudget, [status.clampText ? `⚠ ${status.clampText}` : '', status.budgetText ?? ''].filter(Boolean).join(' '));
    this.#verifyBudget.dataset.clamped = status.clampText ? 'true' : 'false';
  }

  /** The memory summary as plain lines, for the PNG's readout band. */
  summaryLines(): string[] {
    const lines = [this.#memSummary.textContent ?? '', this.#memCompare.textContent ?? ''];
    if (!this.#oom.hidden) lines.push(this.#oom.textContent ?? '');
    return lines.filter((l) => l.length > 0);
  }

  /** One line for the PNG: "✓ sharded = unsharded · max |error| 2.4e-7 · GPU · 8 ranks × 256 tokens". */
  verificationShort(): string {
    const r = this.#verification.result;
    if (!r) return '';
    const pass = r.maxAbsError < PASS_ABS_ERROR;
    const bw = r.backward ? ` · backward ${r.backward.relativeError <= PASS_BACKWARD_RELATIVE ? '✓' : '✗'} dQ/dK/dV ${Math.max(r.backward.maxAbsErrorDq, r.backward.maxAbsErrorDk, r.backward.maxAbsErrorDv).toExponential(1)}` : '';
    return `${pass ? '✓ sharded = unsharded' : r.localMask ? '✗ local mask: wrong result' : '✗ sharded ≠ unsharded'} · max |error| ${r.maxAbsError.toExponential(1)}${bw} · ${r.backend === 'gpu' ? 'WebGPU' : 'CPU'} · ${countOf(r.ranks, 'rank')} × ${r.seqLen} tokens`;
  }

  get verification(): VerificationView {
    return this.#verification;
  }

  /**
   * Charts are drawn in their own task after the next frame, once per frame however many updates
   * came: the text readouts change with the params at once, the canvases a frame later, and a
   * change's main-thread work is split so a frame can be shown in between.
   */
  #scheduleCharts(): void {
    if (this.#chartsPending) return;
    this.#chartsPending = true;
    const run = (): void => {
      if (!this.#chartsPending) return;
      this.#chartsPending = false;
      this.#drawCharts();
    };
    if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => setTimeout(run, 0));
    setTimeout(run, 120); // hidden tabs get no frames
  }

  /** Draws pending charts now (PNG export, tests). */
  flushCharts(): void {
    if (!this.#chartsPending) return;
    this.#chartsPending = false;
    this.#drawCharts(true);
  }

  /** Redraws the canvases at the current size and device pixel ratio. */
  #drawCharts(all = false): void {
    const t0 = performance.now();
    this.#drawChartsNow(all);
    // Read by `npm run bench -- interaction` (the charts' share of a change, drawn in their own task).
    measureSince('shardscope.charts', t0);
  }

  #drawChartsNow(all: boolean): void {
    const input = this.#input;
    if (!input) return;
    const style = chartStyle(input.theme);
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    const valid = input.plan.valid && input.plan.perRank.length > 0;
    const draw = (canvas: HTMLCanvasElement, h: number, fn: (ctx: CanvasRenderingContext2D, w: number) => void): void => {
      if (!all && this.#visible.get(canvas) === false) {
        this.#drawnFor.delete(canvas); // drawn when it comes into view
        return;
      }
      const w = this.#widths.get(canvas) || canvas.clientWidth || canvas.parentElement?.clientWidth || 300;
      const key = `${w}×${h}×${dpr}|${valid}`;
      if (!all && this.#drawnFor.get(canvas) === key && this.#drawnPlan.get(canvas) === input) return;
      this.#drawnFor.set(canvas, key);
      this.#drawnPlan.set(canvas, input);
      drawChart(canvas, w, h, dpr, (ctx) => {
        if (valid) fn(ctx, w);
      });
    };
    const compact = document.body.classList.contains('embed');
    const memH = compact ? Math.max(56, Math.min(180, Math.round(window.innerHeight * 0.2))) : 200;
    draw(this.#memCanvas, memH, (ctx, w) => drawMemoryChart(ctx, memoryData(input.plan, input.step), { x: 0, y: 0, w, h: memH }, style, { compact }));
    if (compact) return;
    const ranks = input.plan.params.ranks;
    const tlH = Math.max(70, Math.min(200, 24 + ranks * 14));
    draw(this.#tlCanvas, tlH, (ctx, w) => drawTimelineChart(ctx, input.plan, input.step, { x: 0, y: 0, w, h: tlH }, style));
    draw(this.#balCanvas, 70, (ctx, w) => drawBalanceChart(ctx, input.plan, { x: 0, y: 0, w, h: 70 }, style));
  }

  redraw(): void {
    this.#drawCharts(true);
  }

  /** The memory chart data for the PNG export. */
  memoryData(): MemoryData | null {
    const input = this.#input;
    if (!input || !input.plan.valid || input.plan.perRank.length === 0) return null;
    return memoryData(input.plan, input.step);
  }

  get root(): HTMLElement {
    return this.#root;
  }
}

/** The backward line: dQ/dK/dV errors against the unsharded gradients, or why the backward did not run. */
function backwardLine(r: VerificationView['result']): { text: string; state: 'pass' | 'fail' | 'pending' | 'error' } {
  if (!r) return { text: '', state: 'pending' };
  const b = r.backward;
  if (!b) return r.backwardError ? { text: `Backward not checked: ${r.backwardError}`, state: 'error' } : { text: '', state: 'pending' };
  const pass = b.relativeError <= PASS_BACKWARD_RELATIVE;
  const errs = `dQ ${b.maxAbsErrorDq.toExponential(2)}, dK ${b.maxAbsErrorDk.toExponential(2)}, dV ${b.maxAbsErrorDv.toExponential(2)} (max |error|; ${b.relativeError.toExponential(1)} of the largest gradient)`;
  const time = b.gpuMs != null ? `, ${formatSeconds(b.gpuMs / 1000)}` : '';
  if (pass) return { text: `✓ Backward: sharded gradients equal the unsharded ones: ${errs}${time}.`, state: 'pass' };
  return { text: r.localMask ? `✗ Backward with the local mask: the gradients are wrong too: ${errs}.` : `✗ Backward: sharded gradients differ from the unsharded ones: ${errs}.`, state: 'fail' };
}

function formatRange(values: readonly number[]): string {
  if (values.length === 0) return '–';
  return formatSpan(Math.min(...values), Math.max(...values), formatBytes);
}
