// Every strategy priced on the same params, side by side: one row per strategy, each read from
// plan() (so the table moves with the cost model), plus the longest sequence that fits (fit.ts).
// The CLI's `compare`, the page's comparison table and window.shardscope.comparison all come from
// comparisonRow(), so they agree by construction.

import type { Params, StrategyId } from './params.ts';
import { STRATEGY_IDS } from './params.ts';
import { MEMORY_CATEGORIES, plan as planOf, type MemoryCategories, type Plan } from './plan.ts';
import { maxSeqSearch, planPeak, probe, runSearch, type MaxSeqResult, type Probe } from './fit.ts';
import { formatBytes, formatRatio, formatSeconds, formatTokens } from './format.ts';
import { STRATEGIES } from './strategies/index.ts';

export type MemoryCategory = keyof MemoryCategories;

/** The category whose bytes differ most from the median of the other valid strategies. */
export interface DistinctCategory {
  category: MemoryCategory;
  bytes: number;
  /** Median of the same category over the other valid strategies. */
  othersBytes: number;
}

/** One row of `compare --json` (issue 11 contract; `name` and `distinct` are extra). */
export interface ComparisonRow {
  strategy: StrategyId;
  name: string;
  valid: boolean;
  reason?: string;
  /** Highest per-rank peak. null when invalid. */
  peakBytes: number | null;
  /** Highest per-rank K/V working set. */
  kvWorkingSetBytes: number | null;
  /** Bytes the busiest rank sends per layer, forward and backward. */
  commBytesPerLayer: { forward: number; backward: number } | null;
  exposedSecondsPerLayer: number | null;
  steps: number | null;
  /** Causal attention FLOPs, max / mean over the ranks. */
  balance: number | null;
  /** Longest sequence that fits at these ranks (null when invalid; 0 when nothing fits). */
  maxSeqThatFits: number | null;
  distinct: DistinctCategory | null;
}

export interface Comparison {
  params: Params;
  rows: ComparisonRow[];
}

/** The peak rank's categories (each category's maximum over the steps, as the readout legend shows). */
export function peakRankCategories(p: Plan): MemoryCategories | null {
  let worst = p.perRank[0];
  for (const r of p.perRank) if (worst && r.memory.peak > worst.memory.peak) worst = r;
  if (!worst) return null;
  const m = worst.memory;
  return { weights: m.weights, grads: m.grads, optimizer: m.optimizer, activations: m.activations, kvWorkingSet: m.kvWorkingSet, scores: m.scores, logits: m.logits };
}

/** The row of one strategy's plan, without the cross-strategy `distinct` (see withDistinct). */
export function comparisonRow(p: Plan, maxSeq: MaxSeqResult | null): ComparisonRow {
  const strategy = p.params.strategy;
  const name = STRATEGIES[strategy].name;
  const valid = p.valid && p.perRank.length > 0;
  if (!valid) {
    return {
      strategy,
      name,
      valid: false,
      reason: p.reason ?? 'invalid parameters',
      peakBytes: null,
      kvWorkingSetBytes: null,
      commBytesPerLayer: null,
      exposedSecondsPerLayer: null,
      steps: null,
      balance: null,
      maxSeqThatFits: null,
      distinct: null,
    };
  }
  let kv = 0;
  let fwd = 0;
  let bwd = 0;
  for (const r of p.perRank) {
    kv = Math.max(kv, r.memory.kvWorkingSet);
    fwd = Math.max(fwd, r.commBytesPerLayer.forward);
    bwd = Math.max(bwd, r.commBytesPerLayer.backward);
  }
  return {
    strategy,
    name,
    valid: true,
    peakBytes: planPeak(p),
    kvWorkingSetBytes: kv,
    commBytesPerLayer: { forward: fwd, backward: bwd },
    exposedSecondsPerLayer: p.timeline.exposedPerLayer,
    steps: p.schedule.valid ? p.schedule.steps.length : 0,
    balance: p.balance.maxOverMean,
    maxSeqThatFits: maxSeq ? maxSeq.maxSeq : null,
    distinct: null,
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return 0;
  return n % 2 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

/**
 * Fills each valid row's `distinct`: the memory category furthest from the median of the other
 * valid strategies (what makes this strategy's peak differ, when weights dominate the total).
 * Differences under 0.5% of the peak count as none.
 */
export function withDistinct(rows: ComparisonRow[], categories: ReadonlyMap<StrategyId, MemoryCategories>): ComparisonRow[] {
  return rows.map((row) => {
    const mine = categories.get(row.strategy);
    if (!row.valid || !mine || row.peakBytes === null) return { ...row, distinct: null };
    let best: DistinctCategory | null = null;
    for (const category of MEMORY_CATEGORIES) {
      const others = rows.filter((r) => r.valid && r.strategy !== row.strategy).map((r) => categories.get(r.strategy)?.[category]).filter((x): x is number => x !== undefined);
      if (others.length === 0) continue;
      const othersBytes = median(others);
      const diff = Math.abs(mine[category] - othersBytes);
      if (diff > 0.005 * row.peakBytes && (!best || diff > Math.abs(best.bytes - best.othersBytes))) best = { category, bytes: mine[category], othersBytes };
    }
    return { ...row, distinct: best };
  });
}

export interface CompareOptions {
  /** Plans a params object (default plan(); the page passes a cache). */
  readonly evaluate?: (params: Params) => Plan;
  /** Probes a params object for the fit search (default probe(); the page passes a cache). */
  readonly probe?: (params: Params) => Probe;
  /** Skip the max-seq search (rows get maxSeqThatFits: null). */
  readonly withoutFit?: boolean;
}

/** Every strategy on params (strategy replaced), synchronously. */
export function compareStrategies(params: Params, options: CompareOptions = {}): Comparison {
  const evaluate = options.evaluate ?? planOf;
  const categories = new Map<StrategyId, MemoryCategories>();
  const rows = STRATEGY_IDS.map((strategy) => {
    const sp: Params = { ...params, strategy };
    const p = evaluate(sp);
    const cats = peakRankCategories(p);
    if (cats && p.valid) categories.set(strategy, cats);
    const fit = options.withoutFit || !p.valid ? null : runSearch(maxSeqSearch(sp), options.probe ?? probe);
    return comparisonRow(p, fit);
  });
  return { params: { ...params }, rows: withDistinct(rows, categories) };
}

/** `compare --json`: { params, rows }. */
export function comparisonToJson(c: Comparison): { params: Params; rows: ComparisonRow[] } {
  return { params: c.params, rows: c.rows };
}

// ---- Best per column and the text tables ------------------------------------------------------

export type ColumnKey = 'peak' | 'kv' | 'commForward' | 'commBackward' | 'exposed' | 'steps' | 'balance' | 'maxSeq';

interface ColumnDef {
  readonly key: ColumnKey;
  readonly title: string;
  readonly value: (r: ComparisonRow) => number | null;
  /** Which end is best. */
  readonly best: 'min' | 'max';
  readonly format: (x: number) => string;
}

export const COMPARISON_COLUMNS: readonly ColumnDef[] = [
  { key: 'peak', title: 'peak / rank', value: (r) => r.peakBytes, best: 'min', format: formatBytes },
  { key: 'kv', title: 'K/V working set', value: (r) => r.kvWorkingSetBytes, best: 'min', format: formatBytes },
  { key: 'commForward', title: 'comm fwd / layer', value: (r) => r.commBytesPerLayer?.forward ?? null, best: 'min', format: formatBytes },
  { key: 'commBackward', title: 'comm bwd / layer', value: (r) => r.commBytesPerLayer?.backward ?? null, best: 'min', format: formatBytes },
  { key: 'exposed', title: 'exposed comm / layer', value: (r) => r.exposedSecondsPerLayer, best: 'min', format: formatSeconds },
  { key: 'steps', title: 'steps', value: (r) => r.steps, best: 'min', format: (x) => String(x) },
  { key: 'balance', title: 'balance (max/mean)', value: (r) => r.balance, best: 'min', format: formatRatio },
  { key: 'maxSeq', title: 'longest seq that fits', value: (r) => r.maxSeqThatFits, best: 'max', format: formatTokens },
];

/**
 * The strategies holding each column's best value among the valid rows (ties all marked; values
 * within 0.05% count as tied, so float noise does not pick a winner). A column where every valid
 * row ties marks nothing: there is no best.
 */
export function bestByColumn(rows: readonly ComparisonRow[]): Record<ColumnKey, Set<StrategyId>> {
  const out = {} as Record<ColumnKey, Set<StrategyId>>;
  for (const col of COMPARISON_COLUMNS) {
    const vals = rows.filter((r) => r.valid && col.value(r) !== null).map((r) => [r.strategy, col.value(r) as number] as const);
    const set = new Set<StrategyId>();
    if (vals.length > 0) {
      const target = col.best === 'min' ? Math.min(...vals.map((v) => v[1])) : Math.max(...vals.map((v) => v[1]));
      const near = (x: number): boolean => Math.abs(x - target) <= Math.abs(target) * 5e-4;
      const winners = vals.filter((v) => near(v[1]));
      if (winners.length < vals.length) for (const [s] of winners) set.add(s);
    }
    out[col.key] = set;
  }
  return out;
}

/** Text of one cell as the table, Markdown and CSV show it. */
export function cellText(row: ComparisonRow, col: ColumnDef): string {
  if (!row.valid) return '–';
  const v = col.value(row);
  if (v === null) return '…';
  if (col.key === 'maxSeq' && v === 0) return 'none';
  return col.format(v);
}

export function distinctText(row: ComparisonRow): string {
  const d = row.distinct;
  if (!d) return '';
  const diff = d.bytes - d.othersBytes;
  return `${CATEGORY_NAME[d.category]} ${diff >= 0 ? '+' : '−'}${formatBytes(Math.abs(diff))}`;
}

export const CATEGORY_NAME: Record<MemoryCategory, string> = {
  weights: 'weights',
  grads: 'grads',
  optimizer: 'optimizer',
  activations: 'activations',
  kvWorkingSet: 'K/V',
  scores: 'scores',
  logits: 'logits',
};

function headerRow(): string[] {
  return ['strategy', 'valid', ...COMPARISON_COLUMNS.flatMap((c) => (c.key === 'peak' ? [c.title, 'differs most'] : [c.title]))];
}

function textRows(c: Comparison, mark: boolean): string[][] {
  const best = bestByColumn(c.rows);
  return c.rows.map((r) => [
    r.name,
    r.valid ? 'yes' : `no: ${r.reason ?? 'invalid'}`,
    ...COMPARISON_COLUMNS.flatMap((col) => {
      const text = cellText(r, col) + (mark && best[col.key].has(r.strategy) ? ' ★' : '');
      return col.key === 'peak' ? [text, r.valid ? distinctText(r) || '–' : '–'] : [text];
    }),
  ]);
}

function caption(c: Comparison): string {
  const p = c.params;
  return `${formatTokens(p.seq)} tokens · ${p.ranks} rank${p.ranks === 1 ? '' : 's'} · ${p.model === 'custom' ? 'custom model' : p.model} · ${p.dtype} · ${p.gpu}`;
}

/** GitHub-flavoured Markdown; ★ marks each column's best. Pipes in reasons are escaped. */
export function comparisonToMarkdown(c: Comparison): string {
  const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const head = headerRow();
  const lines = [`Strategies at ${caption(c)} (★ best in column; per rank, per layer)`, '', `| ${head.map(esc).join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of textRows(c, true)) lines.push(`| ${r.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

/** RFC 4180 CSV with raw numbers (bytes, seconds, tokens) so a spreadsheet can compute with them. */
export function comparisonToCsv(c: Comparison): string {
  const q = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const head = ['strategy', 'name', 'valid', 'reason', 'peakBytes', 'differsMost', 'kvWorkingSetBytes', 'commForwardBytesPerLayer', 'commBackwardBytesPerLayer', 'exposedSecondsPerLayer', 'steps', 'balance', 'maxSeqThatFits'];
  const num = (x: number | null | undefined): string => (x === null || x === undefined ? '' : String(x));
  const lines = [head.join(',')];
  for (const r of c.rows) {
    lines.push(
      [
        r.strategy,
        q(r.name),
        r.valid ? 'true' : 'false',
        q(r.reason ?? ''),
        num(r.peakBytes),
        q(r.distinct ? r.distinct.category : ''),
        num(r.kvWorkingSetBytes),
        num(r.commBytesPerLayer?.forward),
        num(r.commBytesPerLayer?.backward),
        num(r.exposedSecondsPerLayer),
        num(r.steps),
        num(r.balance),
        num(r.maxSeqThatFits),
      ].join(','),
    );
  }
  return lines.join('\n');
}

/** An aligned plain-text table for a terminal. */
export function comparisonToText(c: Comparison): string {
  const rows = [headerRow(), ...textRows(c, true)].map((r) => r.map((cell, i) => (i === 1 && cell.length > 40 ? `${cell.slice(0, 39)}…` : cell)));
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const out = rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd());
  const notes = c.rows.filter((r) => !r.valid).map((r) => `  ${r.name}: ${r.reason ?? 'invalid'}`);
  return [`Shardscope compare: ${caption(c)}  (★ best in column)`, '', ...out, ...(notes.length ? ['', 'Cannot run:', ...notes] : [])].join('\n');
}
