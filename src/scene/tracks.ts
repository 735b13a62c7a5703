// Schedule → what moves and what is held, per step. Pure: no DOM, no three.js.
//
// Every moving block of the animation is one Transfer of the Schedule, copied field for field:
// the scene never invents a motion per strategy. A track goes from its source rank's lane to its
// destination rank's lane, in the column of its tensor kind, at the same token positions and heads
// (both are global, so only the lane changes: all-gather fans out, reduce-scatter converges,
// all-to-all reshapes sequence shards into head shards, ring hops one lane at a time).

import type { Collective, CollectiveKind, HeadRange, Phase, Schedule, TensorKind, TokenSet, Transfer, ValidSchedule } from '../model/schedule.ts';
import { eachTransfer, transferAt, type TransferCursor } from '../model/scheduleCodec.ts';

/** Lane columns: the query-side tensors, the key/value-side tensors, the output and softmax state. */
export type ColumnId = 'q' | 'kv' | 'o';
export const COLUMNS: readonly ColumnId[] = ['q', 'kv', 'o'];

export function columnOf(tensor: TensorKind): ColumnId {
  switch (tensor) {
    case 'X':
    case 'Q':
    case 'dQ':
      return 'q';
    case 'K':
    case 'V':
    case 'dK':
    case 'dV':
      return 'kv';
    case 'O':
    case 'dO':
    case 'loss':
      return 'o';
  }
}

export function isGradient(tensor: TensorKind): boolean {
  return tensor === 'dQ' || tensor === 'dK' || tensor === 'dV' || tensor === 'dO';
}

/** A Transfer placed in time: which step and collective moves it. */
export interface Track extends Transfer {
  readonly step: number;
  /** Index of the collective within the step. */
  readonly collective: number;
  readonly kind: CollectiveKind;
  readonly label: string;
  /** src === dst: the block stays (a rank's own share of a collective); drawn without motion. */
  readonly local: boolean;
}

/** One track per Transfer of every collective of the step, in schedule order. */
export function tracksForStep(schedule: ValidSchedule, stepIndex: number): Track[] {
  return tracksWhere(schedule, stepIndex, () => true);
}

/** The track of transfer `t` of the step's collective number `c`. */
export function trackOf(stepIndex: number, c: number, collective: Collective, t: Transfer): Track {
  return { step: stepIndex, collective: c, kind: collective.kind, label: collective.label, src: t.src, dst: t.dst, tensor: t.tensor, tokens: t.tokens, heads: t.heads, bytes: t.bytes, local: t.src === t.dst };
}

/**
 * The step's tracks for the transfers `keep` accepts, in schedule order. The all-gather step at 64
 * ranks moves 8,064 blocks and the scene draws the 1,134 into 9 representative ranks: it makes
 * only their tracks, and reads the others' fields without decoding them (model/scheduleCodec.ts).
 */
export function tracksWhere(schedule: ValidSchedule, stepIndex: number, keep: (t: Readonly<TransferCursor>) => boolean): Track[] {
  const step = schedule.steps[stepIndex];
  if (!step) return [];
  const tracks: Track[] = [];
  step.collectives.forEach((collective, c) => {
    eachTransfer(collective, (cursor) => {
      if (keep(cursor)) tracks.push(trackOf(stepIndex, c, collective, transferAt(collective, cursor.index) as Transfer));
    });
  });
  return tracks;
}

export function deriveTracks(schedule: Schedule): Track[][] {
  if (!schedule.valid) return [];
  return schedule.steps.map((_, i) => tracksForStep(schedule, i));
}

/** What a rank holds in one column during a step. */
export interface Holding {
  readonly rank: number;
  readonly column: ColumnId;
  readonly tensor: TensorKind;
  readonly tokens: TokenSet;
  readonly heads: HeadRange;
  /** True when the rank's compute in this step covers no (q, k) pair: the rank idles. */
  readonly idle: boolean;
}

export interface HeadCounts {
  readonly heads: number;
  readonly kvHeads: number;
}

/** K/V heads used by query heads [start, end): floor(h·kvHeads/heads), as in schedule.ts. */
export function kvHeadRange(q: HeadRange, counts: HeadCounts): HeadRange {
  const start = Math.floor((q.start * counts.kvHeads) / counts.heads);
  const end = Math.max(start + 1, Math.ceil((q.end * counts.kvHeads) / counts.heads));
  return { start, end: Math.min(counts.kvHeads, end) };
}

function phaseTensors(phase: Phase): { q: TensorKind; kv: TensorKind; o: TensorKind } {
  // In the backward pass a rank still holds Q and K/V; its output column holds dO (the incoming gradient).
  return phase === 'backward' ? { q: 'Q', kv: 'K', o: 'dO' } : { q: 'Q', kv: 'K', o: 'O' };
}

/**
 * Holdings of every rank during step `stepIndex`. A rank's compute entry says which Q and K/V it
 * works on; a rank without one in this step keeps what it held last (before the first compute:
 * its own shard, all heads).
 */
export function holdingsAt(schedule: ValidSchedule, stepIndex: number, counts: HeadCounts): Holding[] {
  const all: HeadRange = { start: 0, end: counts.heads };
  const allKv: HeadRange = { start: 0, end: counts.kvHeads };
  const last = new Map<number, Held>();
  for (const shard of schedule.shards) last.set(shard.rank, { q: shard.tokens, kv: shard.tokens, heads: all, kvHeads: allKv });
  const idle = new Set<number>();
  for (let i = 0; i <= stepIndex && i < schedule.steps.length; i++) {
    const step = schedule.steps[i];
    if (!step) break;
    if (i === stepIndex) idle.clear();
    for (const rc of step.compute) {
      last.set(rc.rank, { q: rc.q, kv: rc.kv, heads: rc.heads, kvHeads: kvHeadRange(rc.heads, counts) });
      if (i === stepIndex && rc.tiles.every((t) => t.pairs === 0)) idle.add(rc.rank);
    }
  }
  const step = schedule.steps[Math.min(stepIndex, schedule.steps.length - 1)];
  return listHoldings(schedule, last, idle, step?.phase ?? 'forward');
}

type Held = { q: TokenSet; kv: TokenSet; heads: HeadRange; kvHeads: HeadRange };

/** The Q, K/V and O columns of every rank, from what each rank last worked on. */
function listHoldings(schedule: ValidSchedule, last: ReadonlyMap<number, Held>, idle: ReadonlySet<number>, phase: Phase): Holding[] {
  const kinds = phaseTensors(phase);
  const out: Holding[] = [];
  for (const shard of schedule.shards) {
    const h = last.get(shard.rank);
    if (!h) continue;
    const isIdle = idle.has(shard.rank);
    out.push({ rank: shard.rank, column: 'q', tensor: kinds.q, tokens: h.q, heads: h.heads, idle: isIdle });
    out.push({ rank: shard.rank, column: 'kv', tensor: kinds.kv, tokens: h.kv, heads: h.kvHeads, idle: isIdle });
    out.push({ rank: shard.rank, column: 'o', tensor: kinds.o, tokens: h.q, heads: h.heads, idle: isIdle });
  }
  return out;
}

/**
 * holdingsAt for every step of the schedule, in one pass over the steps (the scene precomputes
 * this once per schedule instead of replaying the schedule on every step change). Same result
 * as holdingsAt(schedule, i, counts) for each i.
 */
export function holdingsTimeline(schedule: ValidSchedule, counts: HeadCounts): Holding[][] {
  const all: HeadRange = { start: 0, end: counts.heads };
  const allKv: HeadRange = { start: 0, end: counts.kvHeads };
  const last = new Map<number, Held>();
  for (const shard of schedule.shards) last.set(shard.rank, { q: shard.tokens, kv: shard.tokens, heads: all, kvHeads: allKv });
  const out: Holding[][] = [];
  for (const step of schedule.steps) {
    const idle = new Set<number>();
    for (const rc of step.compute) {
      last.set(rc.rank, { q: rc.q, kv: rc.kv, heads: rc.heads, kvHeads: kvHeadRange(rc.heads, counts) });
      if (rc.tiles.every((t) => t.pairs === 0)) idle.add(rc.rank);
    }
    out.push(listHoldings(schedule, last, idle, step.phase));
  }
  return out;
}
