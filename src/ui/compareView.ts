// "Compare & plan": every strategy on the current params in one table (best per column marked,
// a click switches strategy, copy as Markdown / CSV), memory against sequence length, and the
// fewest ranks for a target length. The numbers come from CompareEngine (model/compare.ts and
// model/fit.ts); this file only lays them out. Text via textContent only.

import type { Params, StrategyId } from '../model/params.ts';
import { gpuPreset, parseField, STRATEGY_IDS } from '../model/params.ts';
import { bestByColumn, cellText, COMPARISON_COLUMNS, comparisonToCsv, comparisonToMarkdown, distinctText, type ColumnKey, type ComparisonRow } from '../model/compare.ts';
import { formatTokens } from '../model/format.ts';
import { STRATEGIES } from '../model/strategies/index.ts';
import { CompareEngine, CompareWorkerClient, SWEEP_MAX, SWEEP_MIN, type CompareSnapshot, type CompareSource } from './compareEngine.ts';
import { drawSeqPlot, STRATEGY_STYLE, type SeqPlotData } from './seqPlot.ts';
import { drawChart } from './charts.ts';
import { CATEGORY_COLOR, CATEGORY_LABEL, CATEGORY_ORDER, chartStyle } from './palette.ts';
import type { Theme } from './urlState.ts';
import { el, replaceChildrenUnlessSame, setAttr, setText } from './dom.ts';
import './compare.css';

export interface CompareViewOptions {
  /** Switch strategy (a row click) or apply a planner answer. */
  readonly setParams: (change: Partial<Params>) => void;
  /** Put text on the clipboard (or show it for manual copying). */
  readonly copy: (title: string, text: string) => void;
}

/** One row of the comparison table: the nodes #renderTable rewrites. */
interface TableRowCells {
  readonly tr: HTMLTableRowElement;
  readonly button: HTMLButtonElement;
  /** Why the strategy cannot run (rows that cannot). */
  readonly reason: HTMLTableCellElement;
  readonly cells: Map<ColumnKey, { td: HTMLTableCellElement; value: Text; star: HTMLElement; distinct: HTMLElement | null }>;
}
interface TableCells {
  /** Which strategies, in order, and which can run: the table is rebuilt when this changes. */
  readonly shape: string;
  readonly rows: Map<StrategyId, TableRowCells>;
}

/** At most one render per this many ms while a comparison streams in (#onProgress). */
const PROGRESS_RENDER_MS = 250;

export class CompareView {
  readonly root: HTMLElement;
  readonly engine: CompareSource;
  readonly #options: CompareViewOptions;
  readonly #caption = el('p', { class: 'cmp-caption', id: 'cmp-caption' });
  readonly #status = el('span', { class: 'cmp-status', id: 'cmp-status', 'aria-live': 'polite' });
  readonly #table = el('table', { class: 'cmp-table', id: 'cmp-table' });
  readonly #canvas = el('canvas', { id: 'cmp-plot', class: 'cmp-plot', role: 'img' });
  readonly #stacked = el('input', { type: 'checkbox', id: 'cmp-stacked' });
  readonly #stackedLabel = el('span', {});
  readonly #legend = el('ul', { class: 'cmp-legend', id: 'cmp-legend' });
  readonly #planSeq = el('input', { type: 'text', id: 'cmp-plan-seq', class: 'cmp-plan-seq', value: '1M', spellcheck: 'false', 'aria-label': 'target sequence length, e.g. 1M' });
  readonly #planList = el('ul', { class: 'cmp-plan-list', id: 'cmp-plan-list' });
  readonly #planNote = el('p', { class: 'cmp-note', id: 'cmp-plan-note', role: 'status' });
  #params: Params | null = null;
  #theme: Theme = 'dark';
  #drawQueued = false;
  #plotWidth = 0;
  #renderedAt = -Infinity;
  #progressTimer: ReturnType<typeof setTimeout> | undefined;
  #tableCells: TableCells | null = null;

  constructor(options: CompareViewOptions) {
    this.#options = options;
    // In a worker where there is one (the page); in this thread otherwise (tests without workers).
    this.engine = typeof Worker === 'function' ? new CompareWorkerClient(() => this.#onProgress()) : new CompareEngine(() => this.#onProgress());
    const title = el('h2', { id: 'cmp-title' }, 'Compare strategies & plan');
    const copyMd = el('button', { type: 'button', id: 'cmp-copy-md' }, 'Copy Markdown');
    const copyCsv = el('button', { type: 'button', id: 'cmp-copy-csv' }, 'Copy CSV');
    copyMd.addEventListener('click', () => {
      const c = this.#comparison();
      if (c) options.copy('Comparison as Markdown', comparisonToMarkdown(c));
    });
    copyCsv.addEventListener('click', () => {
      const c = this.#comparison();
      if (c) options.copy('Comparison as CSV', comparisonToCsv(c));
    });
    const head = el('div', { class: 'cmp-head' }, title, el('div', { class: 'cmp-buttons' }, copyMd, copyCsv));
    const tableWrap = el('div', { class: 'cmp-table-wrap' }, this.#table);
    const note = el(
      'p',
      { class: 'cmp-note' },
      '★ best in column. Peak, K/V working set and communication are the busiest rank’s; communication is bytes sent per layer. “Differs most” is the memory category furthest from the other strategies’ median. Click a row to switch strategy.',
    );

    this.#stacked.addEventListener('change', () => this.#queueDraw());
    const toggle = el('label', { class: 'cmp-toggle' }, this.#stacked, this.#stackedLabel);
    const plotHead = el('div', { class: 'cmp-plot-head' }, el('h3', {}, 'Memory against sequence length'), toggle);
    const plot = el('div', { class: 'cmp-plot-box' }, plotHead, this.#canvas, this.#legend);

    const planButton = el('button', { type: 'button', id: 'cmp-plan-go' }, 'Find');
    const go = (): void => {
      const r = parseField('seq', this.#planSeq.value);
      if ('issue' in r) {
        setText(this.#planNote, r.issue.message.replace(/, using [^,]*\.$/, '.'));
        return;
      }
      setText(this.#planNote, '');
      this.engine.requestMinRanks(r.value);
    };
    planButton.addEventListener('click', go);
    this.#planSeq.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') go();
    });
    const planner = el(
      'div',
      { class: 'cmp-planner' },
      el('h3', {}, 'Fewest ranks for a target length'),
      el('div', { class: 'cmp-plan-form' }, el('label', { for: 'cmp-plan-seq' }, 'tokens'), this.#planSeq, planButton),
      this.#planList,
      this.#planNote,
    );

    this.root = el(
      'section',
      { id: 'compare', class: 'cmp', 'aria-labelledby': 'cmp-title' },
      head,
      el('div', { class: 'cmp-sub' }, this.#caption, this.#status),
      tableWrap,
      note,
      el('div', { class: 'cmp-lower' }, plot, planner),
    );
    new ResizeObserver((entries) => {
      this.#plotWidth = entries[0]?.contentRect.width ?? 0;
      this.#queueDraw();
    }).observe(this.#canvas);
  }

  /** New params (and the store's plan for them). */
  update(params: Params, plan: Parameters<CompareSource['setParams']>[1], theme: Theme): void {
    this.#params = params;
    const themeChanged = theme !== this.#theme;
    this.#theme = theme;
    const before = this.engine.snapshot;
    this.engine.setParams(params, plan);
    const snap = this.engine.snapshot;
    if (snap && snap !== before && !snap.rows && before?.rows) {
      // A new comparison is on its way (the worker starts once the params hold still). The last one
      // stays on screen, marked stale, rather than the table and plot being rebuilt (a layout of
      // the page each time) on every step of a slider drag.
      this.root.classList.add('cmp-stale');
      this.#renderCaption(snap);
      if (themeChanged) this.#queueDraw();
      return;
    }
    this.#render();
  }

  setTheme(theme: Theme): void {
    this.#theme = theme;
    this.#queueDraw();
  }

  /** Rows equal to `compare --json`'s once every fit is done; null before. */
  comparisonRows(): ComparisonRow[] | null {
    const snap = this.engine.snapshot;
    if (!snap || !snap.complete || !snap.rows || !this.#params) return null;
    return snap.rows.map((r) => ({ ...r }));
  }

  #comparison(): { params: Params; rows: ComparisonRow[] } | null {
    const snap = this.engine.snapshot;
    if (!snap || !snap.rows) return null;
    return { params: snap.params, rows: [...snap.rows] };
  }

  /** Plain rows of cell text for the PNG export (header first). */
  exportTable(): { caption: string; header: string[]; rows: { cells: string[]; best: boolean[]; current: boolean; valid: boolean }[] } | null {
    const snap = this.engine.snapshot;
    if (!snap || !snap.rows) return null;
    const best = bestByColumn(snap.rows);
    return {
      caption: this.#caption.textContent ?? '',
      header: ['strategy', ...COMPARISON_COLUMNS.map((c) => c.title)],
      rows: snap.rows.map((r) => ({
        cells: [STRATEGY_STYLE[r.strategy].short, ...COMPARISON_COLUMNS.map((c) => cellText(r, c))],
        best: [false, ...COMPARISON_COLUMNS.map((c) => best[c.key].has(r.strategy))],
        current: r.strategy === snap.params.strategy,
        valid: r.valid,
      })),
    };
  }

  /**
   * The engine reports each fit and sweep point as it lands (dozens a second). The table and plot
   * follow at most every PROGRESS_RENDER_MS, then once more when the comparison is done: each
   * render rebuilds the table and redraws the plot (~30 ms of main thread on a slow machine).
   */
  #onProgress(): void {
    const snap = this.engine.snapshot;
    const now = performance.now();
    clearTimeout(this.#progressTimer);
    if (snap?.done || now - this.#renderedAt >= PROGRESS_RENDER_MS) this.#render();
    else this.#progressTimer = setTimeout(() => this.#render(), PROGRESS_RENDER_MS - (now - this.#renderedAt));
  }

  #render(): void {
    clearTimeout(this.#progressTimer);
    const snap = this.engine.snapshot;
    if (!snap || !this.#params) return;
    this.#renderedAt = performance.now();
    // A new comparison has not priced its rows yet: the last table stays, marked stale.
    this.root.classList.toggle('cmp-stale', !snap.rows && this.#tableCells !== null);
    this.#renderCaption(snap);
    this.#renderTable(snap);
    this.#renderPlanner(snap);
    setText(this.#stackedLabel, ` stack ${STRATEGIES[this.#params.strategy].name}’s categories`);
    this.#queueDraw();
  }

  #renderCaption(snap: CompareSnapshot): void {
    const params = this.#params;
    if (!params) return;
    setText(
      this.#caption,
      `${formatTokens(params.seq)} tokens · ${params.ranks} ${params.ranks === 1 ? 'GPU' : 'GPUs'}${params.tp > 1 ? ` × TP ${params.tp}` : ''} · ${params.model === 'custom' ? 'custom model' : params.model} · ${params.dtype} · ${params.gpu.toUpperCase()}`,
    );
    setText(this.#status, snap.done ? '' : !snap.rows ? 'pricing every strategy…' : snap.complete ? 'drawing memory against length…' : 'finding the longest context that fits…');
  }

  /**
   * The table is built when its rows (which strategies, which can run) change, and otherwise
   * rewritten in place: a comparison streams in several renders per parameter change, and a
   * rebuild replaced its ~70 cells each time, which the page then styled, laid out and painted anew.
   */
  #renderTable(snap: CompareSnapshot): void {
    const rows = snap.rows;
    if (!rows) {
      if (this.#tableCells) return; // kept, marked stale (#render)
      this.#table.replaceChildren(el('caption', {}, 'Pricing every strategy…'));
      return;
    }
    const shape = rows.map((r) => `${r.strategy}:${r.valid}`).join(' ');
    if (this.#tableCells?.shape !== shape) this.#tableCells = this.#buildTable(rows, shape);
    const best = bestByColumn(rows);
    for (const r of rows) {
      const row = this.#tableCells.rows.get(r.strategy);
      if (!row) continue;
      const current = r.strategy === snap.params.strategy;
      row.tr.classList.toggle('cmp-current', current);
      setAttr(row.button, 'aria-pressed', String(current));
      if (!r.valid) {
        setText(row.reason, `cannot run: ${r.reason ?? 'invalid parameters'}`);
        continue;
      }
      for (const c of COMPARISON_COLUMNS) {
        const cell = row.cells.get(c.key);
        if (!cell) continue;
        const text = cellText(r, c);
        if (cell.value.data !== text) cell.value.data = text;
        const isBest = best[c.key].has(r.strategy);
        if (isBest !== cell.td.classList.contains('cmp-best')) {
          cell.td.classList.toggle('cmp-best', isBest);
          if (isBest) {
            cell.td.insertBefore(cell.star, cell.value.nextSibling);
            cell.td.setAttribute('aria-description', 'best in column');
          } else {
            cell.star.remove();
            cell.td.removeAttribute('aria-description');
          }
        }
        if (cell.distinct) {
          const d = distinctText(r);
          setText(cell.distinct, d);
          if (d && !cell.distinct.isConnected) cell.td.append(cell.distinct);
          else if (!d) cell.distinct.remove();
        }
      }
    }
  }

  /** The table's nodes for these rows; #renderTable fills in their text. */
  #buildTable(rows: readonly ComparisonRow[], shape: string): TableCells {
    const head = el(
      'tr',
      {},
      el('th', { scope: 'col' }, 'strategy'),
      ...COMPARISON_COLUMNS.map((c) => el('th', { scope: 'col', 'data-col': c.key }, c.title)),
    );
    const cells: TableCells = { shape, rows: new Map() };
    const body = rows.map((r) => {
      const button = el('button', { type: 'button', class: 'cmp-row-button', 'aria-pressed': 'false' }, STRATEGIES[r.strategy].name);
      const swatch = el('span', { class: 'cmp-swatch', 'aria-hidden': 'true' });
      swatch.style.background = STRATEGY_STYLE[r.strategy].color;
      button.prepend(swatch);
      const tr = el('tr', { 'data-strategy': r.strategy }, el('th', { scope: 'row' }, button));
      const row: TableRowCells = { tr, button, reason: el('td', { colspan: String(COMPARISON_COLUMNS.length), class: 'cmp-reason' }), cells: new Map() };
      if (!r.valid) {
        tr.classList.add('cmp-invalid');
        tr.append(row.reason);
      } else {
        for (const c of COMPARISON_COLUMNS) {
          const value = document.createTextNode('');
          const td = el('td', { 'data-col': c.key, 'data-label': c.title }, value);
          const star = el('span', { class: 'cmp-star', title: 'best in this column' }, '\u00a0★');
          const distinct = c.key === 'peak' ? el('span', { class: 'cmp-distinct', title: 'the memory category furthest from the other strategies’ median' }) : null;
          row.cells.set(c.key, { td, value, star, distinct });
          tr.append(td);
        }
      }
      tr.addEventListener('click', () => this.#options.setParams({ strategy: r.strategy }));
      cells.rows.set(r.strategy, row);
      return tr;
    });
    this.#table.replaceChildren(
      el('caption', { class: 'sr-only' }, 'Every strategy on the current parameters; the best value in each column is starred.'),
      el('thead', {}, head),
      el('tbody', {}, ...body),
    );
    return cells;
  }

  #renderPlanner(snap: CompareSnapshot): void {
    const mr = this.engine.minRanks;
    if (!mr) {
      replaceChildrenUnlessSame(this.#planList, '', () => [el('li', { class: 'cmp-plan-title' }, 'Enter a sequence length and press Find: the fewest GPUs each strategy needs for it, with this model and GPU.')]);
      return;
    }
    const found = STRATEGY_IDS.filter((s) => mr.results.has(s)).map((s) => [s, mr.results.get(s)] as const);
    const key = JSON.stringify([mr.seq, mr.done, snap.params.gpu, found]);
    replaceChildrenUnlessSame(this.#planList, key, () => {
      const items = found.map(([s, r]) => {
        const name = STRATEGY_STYLE[s].short;
        if (!r || r.minRanks === null) return el('li', { 'data-strategy': s, class: 'cmp-plan-none' }, `${name}: ${r?.reason ?? 'no answer'}`);
        const use = el('button', { type: 'button', class: 'cmp-plan-use' }, 'use');
        const ranks = r.minRanks;
        use.addEventListener('click', () => this.#options.setParams({ strategy: s, ranks, seq: mr.seq }));
        return el('li', { 'data-strategy': s, 'data-ranks': String(ranks) }, `${name}: ${ranks} ${ranks === 1 ? 'GPU' : 'GPUs'} `, use);
      });
      if (!mr.done) items.push(el('li', { class: 'cmp-plan-pending' }, 'searching…'));
      return [el('li', { class: 'cmp-plan-title' }, `for ${formatTokens(mr.seq)} tokens (${snap.params.gpu.toUpperCase()}, this model):`), ...items];
    });
  }

  #queueDraw(): void {
    if (this.#drawQueued) return;
    this.#drawQueued = true;
    requestAnimationFrame(() => {
      this.#drawQueued = false;
      this.#draw();
    });
  }

  /** The plot's data for the current snapshot (also used by the PNG export). */
  plotData(): SeqPlotData | null {
    const snap = this.engine.snapshot;
    if (!snap || !snap.rows) return null;
    const current = snap.params.strategy;
    const lines = STRATEGY_IDS.map((id) => {
      const pts = snap.sweep.get(id) ?? [];
      return {
        id,
        points: pts.filter((p) => p.probe.valid).map((p) => ({ seq: p.seq, peak: p.probe.peakBytes })),
        maxSeq: snap.maxSeq.get(id)?.maxSeq ?? null,
        current: id === current,
      };
    });
    const any = snap.sweep.get(current) ?? [...snap.sweep.values()][0] ?? [];
    const stackedPts = (snap.sweep.get(current) ?? []).filter((p) => p.probe.atPeak).map((p) => ({ seq: p.seq, atPeak: p.probe.atPeak as NonNullable<typeof p.probe.atPeak> }));
    const capacity = this.#capacity(snap);
    return {
      lines,
      baseline: any.map((p) => ({ seq: p.seq, peak: p.probe.baselinePeakBytes })),
      capacity,
      currentSeq: snap.params.seq,
      minSeq: SWEEP_MIN,
      maxSeqAxis: SWEEP_MAX,
      stacked: this.#stacked.checked ? { id: current, points: stackedPts } : null,
    };
  }

  #capacity(snap: CompareSnapshot): number {
    return gpuPreset(snap.params).memoryBytes;
  }

  #draw(): void {
    const data = this.plotData();
    // The width the ResizeObserver reported: reading clientWidth here would force a layout.
    const w = this.#plotWidth || this.#canvas.clientWidth || this.#canvas.parentElement?.clientWidth || 300;
    const h = Math.round(Math.max(210, Math.min(300, w * 0.55)));
    const drawn = drawChart(this.#canvas, w, h, Math.max(1, window.devicePixelRatio || 1), (ctx) => {
      if (data) drawSeqPlot(ctx, data, { x: 0, y: 0, w, h }, chartStyle(this.#theme));
    });
    if (!drawn || !data) return;
    const fits = data.lines.filter((l) => l.maxSeq !== null).map((l) => `${STRATEGY_STYLE[l.id].short} ${l.maxSeq === 0 ? 'none' : formatTokens(l.maxSeq as number)}`);
    setAttr(
      this.#canvas,
      'aria-label',
      `Peak memory per rank against sequence length from ${formatTokens(SWEEP_MIN)} to ${formatTokens(SWEEP_MAX)}, log scale, with the GPU capacity line; longest context that fits: ${fits.join(', ') || 'computing'}.`,
    );
    if (data.stacked) {
      const cats = CATEGORY_ORDER.filter((k) => data.stacked?.points.some((p) => p.atPeak[k] > 0));
      replaceChildrenUnlessSame(this.#legend, `stacked ${cats.join(' ')}`, () => {
        const items = cats.map((k) => {
          const sw = el('span', { class: 'cmp-area-swatch', 'aria-hidden': 'true' });
          sw.style.background = CATEGORY_COLOR[k];
          return el('li', { 'data-category': k }, sw, CATEGORY_LABEL[k]);
        });
        const cap = el('span', { class: 'cmp-line-swatch cmp-line-cap', 'aria-hidden': 'true' });
        items.push(el('li', {}, cap, 'GPU capacity'));
        return items;
      });
      return;
    }
    const lines = data.lines.map((l) => ({
      id: l.id,
      current: l.current,
      fit: l.maxSeq === null ? (l.points.length === 0 && this.engine.snapshot?.done ? 'cannot run' : '') : l.maxSeq === 0 ? 'nothing fits' : `fits ${formatTokens(l.maxSeq)}`,
    }));
    replaceChildrenUnlessSame(this.#legend, JSON.stringify(lines), () => {
      const items = lines.map((l) => {
        const s = STRATEGY_STYLE[l.id];
        const sw = el('span', { class: 'cmp-line-swatch', 'aria-hidden': 'true' });
        sw.style.borderTopColor = s.color;
        sw.style.borderTopStyle = s.dash.length ? 'dashed' : 'solid';
        return el('li', { class: l.current ? 'cmp-current' : '', 'data-strategy': l.id }, sw, `${s.short}`, el('span', { class: 'cmp-legend-fit' }, l.fit));
      });
      const ghost = el('span', { class: 'cmp-line-swatch cmp-line-ghost', 'aria-hidden': 'true' });
      const cap = el('span', { class: 'cmp-line-swatch cmp-line-cap', 'aria-hidden': 'true' });
      items.push(el('li', {}, ghost, 'no SP (1 GPU)'), el('li', {}, cap, 'GPU capacity'));
      return items;
    });
  }
}
