// The online-softmax merge panel: how one rank's running max m, sum l and accumulator change as
// each K/V block arrives, with the GPU trace's real numbers when the verification run traced a row.

import { readTrace, softmaxRows, type SoftmaxRow } from './softmax.ts';
import { setText, type SceneContext } from './context.ts';
import { PANEL_LINE, fitText, linesOf, text, textWidth } from './overlay.ts';

/** What the softmax panel shows: its rows, and the text and shape its nodes are built for. */
interface SoftmaxPanelSpec {
  readonly rows: readonly SoftmaxRow[];
  /** Everything the nodes depend on (panel size, title, headers, row count, formula, note). */
  readonly shape: string;
  readonly title: string;
  readonly tip: string;
  readonly note: string | null;
  readonly formula: readonly string[];
  readonly headers: readonly string[];
  readonly rowCount: number;
}

/** Softmax panel nodes, built when the panel's shape changes; a new schedule of the same shape or a step change only fills them. */
interface SoftmaxPanel {
  readonly shape: string;
  rows: readonly SoftmaxRow[];
  readonly cols: number;
  /** Header of the third column ('work' = the long texts fit). */
  readonly header2: string;
  readonly slots: readonly { tr: HTMLTableRowElement; cells: HTMLElement[]; cls: string }[];
}

const ROW_H = 16;
const FORMULA = ['m ← max(m, rowmax S)', 'l ← l·e^(m_old−m) + Σ e^(S−m)', 'acc ← acc·e^(m_old−m) + e^(S−m)·V'];

export interface SoftmaxPanelView {
  /** Fills the panel for a step (rebuilding its nodes when the panel was shown for something else). */
  render(stepIndex: number): void;
  /** The schedule, verification or layout changed: rebuild on the next render. */
  invalidate(): void;
}

export function createSoftmaxPanel(ctx: SceneContext): SoftmaxPanelView {
  let softmax: SoftmaxPanel | null = null;
  /** The schedule, verification or layout changed since the panel's rows were read. */
  let stale = true;

  /** The panel's rows and layout for the current schedule, ctx.verification and panel size. */
  function specOf(): SoftmaxPanelSpec | null {
    const m = ctx.model;
    if (!m) return null;
    const s = m.schedule;
    const P = ctx.layout.panel;
    const trace = readTrace(ctx.verification?.softmaxTrace ?? null);
    // The traced rank when the ctx.verification run traced one (same strategy and ranks), else the last rank.
    const rank = trace.rank !== null && trace.rank < s.ranks ? trace.rank : s.ranks - 1;
    const rows: SoftmaxRow[] = softmaxRows(s, rank, ctx.verification?.softmaxTrace ?? null);
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
      ? `Query token ${trace.token ?? '?'}, head ${trace.head ?? '?'}, read back from the ${ctx.verification?.backend === 'cpu' ? 'CPU reference' : 'GPU'} run at ${ctx.verification?.seqLen ?? '?'} executed tokens (the blocks above are the modelled ones). At the end O = acc / l.`
      : ctx.verification
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
    const rowCount = Math.max(1, Math.min(8, rowsFor(), rows.length));
    const formula = formulaLines === 1 ? [formulaOne] : formulaLines > 1 ? FORMULA : [];
    const tip = `${FORMULA.join('\n')}\n${note}`;
    const shownNote = noteH > 0 ? note : null;
    const shape = [`${P.w}x${P.h}`, title, tip, shownNote ?? '', formula.join('|'), headers.join('|'), rowCount].join('\n');
    return { rows, shape, title, tip, note: shownNote, formula, headers, rowCount };
  }

  /** Builds the panel's nodes for `spec`: title, formula, a table of spec.rowCount empty rows, note. */
  function mount(spec: SoftmaxPanelSpec): SoftmaxPanel {
    ctx.dom.panel.replaceChildren();
    ctx.dom.panel.title = spec.tip;
    text(ctx.dom.panel, 'div', spec.title, 'ss-panel-title');
    for (const f of spec.formula) text(ctx.dom.panel, 'div', f, 'ss-formula');
    const table = document.createElement('table');
    table.className = 'ss-softmax';
    const hr = document.createElement('tr');
    for (const h of spec.headers) text(hr, 'th', h);
    table.append(hr);
    const slots: SoftmaxPanel['slots'][number][] = [];
    for (let i = 0; i < spec.rowCount; i++) {
      const tr = document.createElement('tr');
      const cellsOut = spec.headers.map(() => {
        const td = document.createElement('td');
        tr.append(td);
        return td;
      });
      table.append(tr);
      slots.push({ tr, cells: cellsOut, cls: '' });
    }
    ctx.dom.panel.append(table);
    if (spec.note !== null) text(ctx.dom.panel, 'div', spec.note, 'ss-small-block');
    return { shape: spec.shape, rows: spec.rows, cols: spec.headers.length, slots, header2: spec.headers[2] ?? '' };
  }

  function renderSoftmaxPanel(stepIndex: number): void {
    if (!ctx.model) {
      ctx.dom.panel.replaceChildren();
      softmax = null;
      return;
    }
    if (!softmax || stale || ctx.dom.panel.dataset.owner !== 'softmax') {
      stale = false;
      const spec = specOf();
      // A new schedule of the same shape (a sequence-length change) keeps the nodes: only the rows' texts differ.
      if (spec && softmax && softmax.shape === spec.shape && ctx.dom.panel.dataset.owner === 'softmax') softmax.rows = spec.rows;
      else softmax = spec ? mount(spec) : null;
      ctx.dom.panel.dataset.owner = 'softmax';
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

  return {
    render: renderSoftmaxPanel,
    invalidate() {
      stale = true;
    },
  };
}
