// Rows of the online-softmax panel: for one rank, each forward step's K/V block and, when the
// verification run traced one query row, the running max m, running sum l, the rescale factor
// e^(m_old − m) applied to acc, and a few acc values. Pure.
//
// The trace comes from src/gpu/verify.ts (Verification.softmaxTrace); its exact shape is read
// tolerantly: an array of per-step records, or an object with such an array in `steps`, where a
// record carries numbers `m`, `l` and optionally `acc` (number[]), `step` (schedule step index)
// and `rank`. src/model/reference.ts' SoftmaxTrace is { rank, token, head, points: [{ step, m, l, acc }] }.

import { tokenCount, type ValidSchedule, type TokenSet } from '../model/schedule.ts';
import { computeOf } from '../model/scheduleCodec.ts';
import { formatTokens } from './layout.ts';

export interface SoftmaxRow {
  readonly step: number;
  readonly block: string;
  readonly skipped: boolean;
  readonly m: number | null;
  readonly l: number | null;
  readonly scale: number | null;
  readonly acc: readonly number[] | null;
}

interface TraceRecord {
  step?: number;
  rank?: number;
  m: number;
  l: number;
  acc?: number[];
}

function isNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

export function readTrace(trace: unknown): { rank: number | null; token: number | null; head: number | null; records: TraceRecord[] } {
  let list: unknown = trace;
  let rank: number | null = null;
  let token: number | null = null;
  let head: number | null = null;
  if (trace && typeof trace === 'object' && !Array.isArray(trace)) {
    const o = trace as Record<string, unknown>;
    if (isNum(o.rank)) rank = o.rank;
    if (isNum(o.token)) token = o.token;
    if (isNum(o.head)) head = o.head;
    list = o.points ?? o.steps ?? o.records ?? o.trace ?? null;
    // Columnar form: { m: number[], l: number[], acc?: number[][] }.
    if (!list && Array.isArray(o.m) && Array.isArray(o.l)) {
      const ms = o.m as unknown[];
      const ls = o.l as unknown[];
      const accs = Array.isArray(o.acc) ? (o.acc as unknown[]) : [];
      list = ms.map((m, i) => ({ m, l: ls[i], acc: accs[i] }));
    }
  }
  if (!Array.isArray(list)) return { rank, token, head, records: [] };
  const records: TraceRecord[] = [];
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const r = item as Record<string, unknown>;
    if (!isNum(r.m) || !isNum(r.l)) continue;
    const rec: TraceRecord = { m: r.m, l: r.l };
    if (isNum(r.step)) rec.step = r.step;
    if (isNum(r.rank)) rec.rank = r.rank;
    if (Array.isArray(r.acc)) rec.acc = (r.acc as unknown[]).filter(isNum).slice(0, 3);
    records.push(rec);
  }
  return { rank, token, head, records };
}

function blockName(set: TokenSet): string {
  if (set.length === 0) return 'none';
  const n = tokenCount(set);
  const first = set[0];
  if (set.length === 1 && first && first.stride === 1) return `${formatTokens(first.start)}–${formatTokens(first.start + first.count - 1)}`;
  if (set.every((s) => s.stride > 1)) return `stripe from ${formatTokens(first?.start ?? 0)} (${formatTokens(n)} tok)`;
  return `${set.length} chunks (${formatTokens(n)} tok)`;
}

export function softmaxRows(schedule: ValidSchedule, rank: number, trace: unknown): SoftmaxRow[] {
  const { rank: traceRank, records: all } = readTrace(trace);
  // A trace of another rank says nothing about this one.
  const records = traceRank === null || traceRank === rank ? all : [];
  const byStep = new Map<number, TraceRecord>();
  const sequential: TraceRecord[] = [];
  for (const r of records) {
    if (r.rank !== undefined && r.rank !== rank) continue;
    if (r.step !== undefined) byStep.set(r.step, r);
    else sequential.push(r);
  }
  const rows: SoftmaxRow[] = [];
  let prevM: number | null = null;
  let k = 0;
  for (const step of schedule.steps) {
    if (step.phase !== 'forward') continue;
    const rc = computeOf(step, rank);
    if (!rc) continue;
    const skipped = rc.tiles.every((t) => t.pairs === 0);
    const rec = byStep.get(step.index) ?? sequential[k];
    k++;
    const m = rec ? rec.m : null;
    const scale = m !== null && prevM !== null ? Math.exp(prevM - m) : m !== null ? 1 : null;
    rows.push({ step: step.index, block: blockName(rc.kv), skipped, m, l: rec ? rec.l : null, scale, acc: rec?.acc ?? null });
    if (m !== null) prevM = m;
  }
  return rows;
}
