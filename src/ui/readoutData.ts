// From a Plan to what the readouts show: plain numbers plus the human-formatted strings, all via
// format.ts so the page prints what the CLI prints. Pure (no DOM), unit-tested.

import type { CollectiveKind } from '../model/schedule.ts';
import type { MemoryCategories, Plan } from '../model/plan.ts';
import { memoryAtStep } from '../model/pricedCodec.ts';
import { countOf, formatBytes, formatBytes2, formatFlops, formatRatio, formatSeconds, formatSpan, formatTokens } from '../model/format.ts';
import { CATEGORY_LABEL, CATEGORY_ORDER } from './palette.ts';

export interface RankBar {
  readonly rank: number;
  /** Categories resident at the rank's peak step (they sum to `peak`). */
  readonly atPeak: MemoryCategories;
  /** Each category's maximum over the steps (what the CLI's table lists). */
  readonly max: MemoryCategories;
  readonly peak: number;
  readonly peakStep: number;
  /** Bytes resident at the playback step. */
  readonly now: number;
  readonly oom: boolean;
}

export interface MemoryData {
  readonly ranks: readonly RankBar[];
  readonly baseline: { readonly atPeak: MemoryCategories; readonly peak: number; readonly oom: boolean };
  readonly capacity: number;
  readonly gpuName: string;
  readonly step: number;
  readonly stepCount: number;
  readonly oom: boolean;
  readonly maxPeak: number;
  readonly minPeak: number;
}

export function memoryData(plan: Plan, step: number): MemoryData {
  const capacity = plan.gpu.memoryBytes;
  const ranks = plan.perRank.map((r) => ({
    rank: r.rank,
    atPeak: r.memory.atPeak,
    max: {
      weights: r.memory.weights,
      grads: r.memory.grads,
      optimizer: r.memory.optimizer,
      activations: r.memory.activations,
      kvWorkingSet: r.memory.kvWorkingSet,
      scores: r.memory.scores,
      logits: r.memory.logits,
    },
    peak: r.memory.peak,
    peakStep: r.memory.peakStep,
    now: memoryAtStep(r, step) ?? r.memory.peak,
    oom: r.oom,
  }));
  const peaks = ranks.map((r) => r.peak);
  return {
    ranks,
    baseline: { atPeak: plan.baseline.memory.atPeak, peak: plan.baseline.memory.peak, oom: plan.baseline.memory.peak > capacity },
    capacity,
    gpuName: plan.gpu.name,
    step,
    stepCount: plan.schedule.valid ? plan.schedule.steps.length : 0,
    oom: plan.oom,
    maxPeak: peaks.length ? Math.max(...peaks) : 0,
    minPeak: peaks.length ? Math.min(...peaks) : 0,
  };
}

/** Memory with two decimals in an automatic unit: "16.06 GB", "537.00 MB" (formatBytes2). */
export function gb(bytes: number): string {
  return formatBytes2(bytes);
}

/** Communication with two decimals in an automatic unit: "469.76 MB", "40.69 GB", never "40689.16 MB". */
export function mb(bytes: number): string {
  return formatBytes2(bytes);
}

/** "41.2 GB" or "40.1–41.2 GB" style range of per-rank values, formatted by format.ts. */
export function formatRange(values: readonly number[], format: (x: number) => string): string {
  if (values.length === 0) return '–';
  return formatSpan(Math.min(...values), Math.max(...values), format);
}

export interface MemorySummary {
  readonly peak: string;
  readonly baseline: string;
  readonly capacity: string;
  /** "3.9× less than without SP" or "" when not comparable. */
  readonly saving: string;
  readonly rows: readonly { readonly category: string; readonly value: string }[];
  /** Text equivalent of the chart, for screen readers. */
  readonly aria: string;
}

export function memorySummary(data: MemoryData): MemorySummary {
  const peak = formatRange(data.ranks.map((r) => r.peak), formatBytes);
  const baseline = formatBytes(data.baseline.peak);
  const capacity = formatBytes(data.capacity);
  const saving = data.maxPeak > 0 && data.baseline.peak > data.maxPeak ? `${formatRatio(data.baseline.peak / data.maxPeak)} less than without SP` : '';
  const rows = CATEGORY_ORDER.map((k) => ({ category: CATEGORY_LABEL[k], value: formatRange(data.ranks.map((r) => r.max[k]), gb) }));
  const oomRanks = data.ranks.filter((r) => r.oom).map((r) => r.rank);
  const aria =
    `Memory per rank at peak: ${peak} on each of ${countOf(data.ranks.length, 'rank')}, against ${capacity} of GPU memory (${data.gpuName}). ` +
    `Without sequence parallelism: ${baseline}. ` +
    (oomRanks.length ? `Out of memory on ${oomRanks.length === data.ranks.length ? 'every rank' : `ranks ${oomRanks.join(', ')}`}. ` : '') +
    rows.map((r) => `${r.category} ${r.value}`).join(', ') +
    '.';
  return { peak, baseline, capacity, saving, rows, aria };
}

export const KIND_LABEL: Record<CollectiveKind, string> = {
  'all-gather': 'all-gather',
  'reduce-scatter': 'reduce-scatter',
  'all-to-all': 'all-to-all',
  'send-recv': 'send/recv (ring)',
  'all-reduce': 'all-reduce',
};

export interface CommRow {
  readonly kind: string;
  readonly forward: string;
  readonly backward: string;
}

export interface CommSummary {
  readonly rows: readonly CommRow[];
  readonly total: CommRow;
  readonly loss: string;
  readonly uniform: boolean;
  readonly aria: string;
}

export function commSummary(plan: Plan): CommSummary {
  const kinds = Object.keys(KIND_LABEL) as CollectiveKind[];
  const rows: CommRow[] = [];
  let uniform = true;
  const same = (xs: number[]): boolean => xs.every((x) => x === xs[0]);
  for (const kind of kinds) {
    const fwd = plan.perRank.map((r) => r.commByKind[kind].forward);
    const bwd = plan.perRank.map((r) => r.commByKind[kind].backward);
    if (fwd.every((x) => x === 0) && bwd.every((x) => x === 0)) continue;
    if (!same(fwd) || !same(bwd)) uniform = false;
    rows.push({ kind: KIND_LABEL[kind], forward: formatRange(fwd, mb), backward: formatRange(bwd, mb) });
  }
  const fwd = plan.perRank.map((r) => r.commBytesPerLayer.forward);
  const bwd = plan.perRank.map((r) => r.commBytesPerLayer.backward);
  const total: CommRow = { kind: 'total', forward: formatRange(fwd, mb), backward: formatRange(bwd, mb) };
  const loss = formatRange(plan.perRank.map((r) => r.commLossBytes), formatBytes);
  const aria =
    rows.length === 0
      ? 'No communication: a single rank holds the whole sequence.'
      : `Bytes each rank sends per layer: forward ${total.forward}, backward ${total.backward}. ` + rows.map((r) => `${r.kind}: forward ${r.forward}, backward ${r.backward}`).join('; ') + '.';
  return { rows, total, loss, uniform, aria };
}

export interface TimelineSummary {
  readonly forward: string;
  readonly backward: string;
  readonly exposed: string;
  /** The overlap verdict in words (read from the timeline: plan.overlap), or '' with nothing to communicate. */
  readonly overlap: string;
  readonly overlapOk: boolean | null;
  readonly aria: string;
}

/** Per layer, forward and backward include the GEMMs (and the recomputed forward); the verdict is plan.overlap. */
export function timelineSummary(plan: Plan): TimelineSummary {
  const t = plan.timeline;
  const o = plan.overlap;
  const communicates = plan.valid && plan.params.ranks > 1;
  const share = t.perLayer > 0 ? (100 * o.exposedSecondsPerLayer) / t.perLayer : 0;
  const ring = t.ringOverlap.applies
    ? ` Ring block ${formatTokens(o.blockTokens)} tokens; ≥ ${formatTokens(o.neededTokens)} fit each step's transfer ${t.ringOverlap.link === 'intra-node' ? 'within a node' : 'across nodes'} under its compute.`
    : '';
  const overlap = communicates
    ? `${o.hides ? 'Communication hides under compute' : 'Communication is exposed'}: ${formatSeconds(o.exposedSecondsPerLayer)} per layer, ${share < 0.1 && share > 0 ? '< 0.1' : share.toFixed(1)}% of the layer (hidden means ≤ 1%).${ring}`
    : '';
  const forward = formatSeconds(t.forward);
  const backward = formatSeconds(t.backward);
  const exposed = formatSeconds(t.exposedPerLayer);
  const aria = `One layer: forward ${forward}, backward ${backward} (attention and GEMMs), of which ${exposed} is exposed communication. ${overlap}`;
  return { forward, backward, exposed, overlap, overlapOk: communicates ? o.hides : null, aria };
}

export interface BalanceSummary {
  readonly ratio: string;
  readonly range: string;
  /** mean/max as a percentage: the ideal efficiency of the causal split. */
  readonly ideal: string;
  /** A measured figure with its source, or ''. */
  readonly measured: string;
  readonly measuredSource: string;
  readonly aria: string;
}

export function balanceSummary(plan: Plan): BalanceSummary {
  const f = plan.balance.perRankFlops;
  const ratio = formatRatio(plan.balance.maxOverMean);
  const range = formatRange(f, formatFlops);
  const ideal = `${(plan.balance.ideal * 100).toFixed(1)}%`;
  const m = plan.balance.measured;
  const measured = m === undefined ? '' : `${(m * 100).toFixed(1)}%`;
  const measuredSource = plan.balance.measuredSource ?? '';
  const aria = `Causal attention work per rank per layer: ${range}; the busiest rank does ${ratio} the mean, ideal efficiency ${ideal}${measured ? `, measured ${measured} (${measuredSource})` : ''}.`;
  return { ratio, range, ideal, measured, measuredSource, aria };
}

/** Per-iteration bytes of rank 0, for the communication note. */
export function perIterationSummary(plan: Plan): string {
  const c = plan.perRank[0]?.commBytesPerIteration;
  if (!c || c.total === 0) return '';
  const grads = plan.perRank[0]?.memory.gradsDtypeBytes ?? 2;
  return `Per iteration (rank 0): attention ${formatBytes2(c.attention)}${c.tensorParallel > 0 ? ` + tensor-parallel ${formatBytes2(c.tensorParallel)}` : ''} + gradient reduction over DP×CP ${formatBytes2(c.gradients)} (${grads === 4 ? 'fp32' : '16-bit'} grads) = ${formatBytes2(c.total)}.`;
}
