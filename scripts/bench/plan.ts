// `npm run bench -- plan`: how long plan() (schedule + pricing) and buildSchedule() alone take,
// per strategy, at 8, 32 and 64 ranks, then plan() at 64 ranks for 1K, 128K and 10M modelled
// tokens, then a slider drag: plan() at 64 ranks with the sequence length changing on every call,
// as the page replans while a slider moves (the previous plan dropped each time, so the garbage
// collector's share shows). The UI calls plan() on every slider move, so it must fit well inside
// one frame (issue 10: ≤ 16 ms for plan + readouts + scene). The schedule is block-granular, so the
// time should not grow with the token count. Prints medians and 95th percentiles of warm runs;
// timing is never a pass/fail test (a loaded machine shifts them).

import { applyModelPreset, DEFAULT_PARAMS, STRATEGY_IDS, type Params } from '../../src/model/params.ts';
import { plan } from '../../src/model/plan.ts';
import { buildSchedule } from '../../src/model/strategies/index.ts';
import { Planner } from '../../src/app/planner.ts';
import { decodeSchedule } from '../../src/model/scheduleCodec.ts';
import { formatSeconds, formatTokens } from '../../src/model/format.ts';

const SEQS = [1024, 131072, 10 * 1024 * 1024];
const RANK_COUNTS = [8, 32, 64];
const RANKS = 64;
const RUNS = 21;
const WARMUP = 10;
/** Calls per strategy in the drag section: enough for a 95th percentile of garbage-collector pauses. */
const DRAG_CALLS = 200;
const DRAG_SEQS: readonly [number, number] = [65536, 262144];

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? Number.NaN;
}

/** "median / p95" of seconds. */
function cell(times: readonly number[]): string {
  return `${formatSeconds(quantile(times, 0.5))} / ${formatSeconds(quantile(times, 0.95))}`;
}

/** Seconds of `RUNS` warm calls. Each call gets a fresh params object with a new seed (which the
 * plan does not depend on), so a cache keyed on params could not serve it. */
function time(params: Params, fn: (p: Params) => unknown): number[] {
  // Warm-up: at a new size V8 takes a few calls to settle (JIT, and the GC deciding where these
  // large short-lived object graphs are allocated); until then a call can be several times slower.
  for (let i = 0; i < WARMUP; i++) fn({ ...params, seed: -1 - i });
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const p = { ...params, seed: 1000 + i };
    const t0 = performance.now();
    fn(p);
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

/** Seconds of plan() per call while the sequence length sweeps DRAG_SEQS, a new length each call. */
function drag(params: Params): number[] {
  const [lo, hi] = DRAG_SEQS;
  const seqAt = (i: number): number => Math.round(lo + ((hi - lo) * i) / DRAG_CALLS);
  for (let i = 0; i < WARMUP; i++) plan({ ...params, seq: seqAt(DRAG_CALLS - i) });
  const times: number[] = [];
  for (let i = 0; i < DRAG_CALLS; i++) {
    const p = { ...params, seq: seqAt(i) };
    const t0 = performance.now();
    plan(p);
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

function printTable(rows: string[][]): void {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
}

export async function run(): Promise<void> {
  // Llama 3 70B: 64 query heads and 8 K/V heads, so Ulysses, Megatron SP (t = 64) and USP are all
  // valid at 64 ranks.
  const base: Params = applyModelPreset({ ...DEFAULT_PARAMS, ulysses: 8 }, 'llama3-70b');

  console.log(`median / p95 of ${RUNS} runs after ${WARMUP} warm-up calls, Llama 3 70B, ${formatTokens(base.seq)} tokens (USP: Ulysses 8 × ring ranks/8)`);
  const byRanks: string[][] = [['strategy', ...RANK_COUNTS.map((p) => `plan ${p}r`), ...RANK_COUNTS.map((p) => `schedule ${p}r`)]];
  for (const strategy of STRATEGY_IDS) {
    const row: string[] = [strategy];
    const planCells: string[] = [];
    const scheduleCells: string[] = [];
    for (const ranks of RANK_COUNTS) {
      const params: Params = { ...base, strategy, ranks };
      const valid = plan(params).valid;
      planCells.push(`${cell(time(params, plan))}${valid ? '' : ' (invalid)'}`);
      scheduleCells.push(cell(time(params, buildSchedule)));
    }
    byRanks.push([...row, ...planCells, ...scheduleCells]);
  }
  printTable(byRanks);

  console.log(`\nplan() median / p95 of ${RUNS} runs after ${WARMUP} warm-up calls, ${RANKS} ranks, by modelled tokens`);
  const bySeq: string[][] = [['strategy', ...SEQS.map((s) => `${formatTokens(s)} tokens`), 'steps']];
  for (const strategy of STRATEGY_IDS) {
    const row: string[] = [strategy];
    let steps = '';
    for (const seq of SEQS) {
      const params: Params = { ...base, strategy, ranks: RANKS, seq };
      const p = plan(params);
      steps = p.schedule.valid ? String(p.schedule.steps.length) : 'invalid';
      row.push(`${cell(time(params, plan))}${p.valid ? '' : ' (invalid)'}`);
    }
    row.push(steps);
    bySeq.push(row);
  }
  printTable(bySeq);

  console.log(`\nslider drag: plan() at ${RANKS} ranks, ${DRAG_CALLS} calls, sequence ${formatTokens(DRAG_SEQS[0])} → ${formatTokens(DRAG_SEQS[1])} changing on every call`);
  const dragRows: string[][] = [['strategy', 'median', 'p95', 'max']];
  for (const strategy of STRATEGY_IDS) {
    const params: Params = { ...base, strategy, ranks: RANKS };
    const times = drag(params);
    dragRows.push([strategy, formatSeconds(quantile(times, 0.5)), formatSeconds(quantile(times, 0.95)), `${formatSeconds(Math.max(...times))}${plan(params).valid ? '' : ' (invalid)'}`]);
  }
  printTable(dragRows);

  // The page's share: the planner worker (src/app/planner.ts) plans, encodes the schedule and builds
  // the work matrix; the page clones the answer (transferring its buffers), decodes the step shells,
  // and decodes the step it draws.
  console.log(`\nthe page's side of a planner answer at ${RANKS} ranks (worker: plan + encode + work matrix; page: clone + decode the shown step)`);
  const answerRows: string[][] = [['strategy', 'worker', 'page']];
  for (const strategy of STRATEGY_IDS) {
    const planner = new Planner();
    const worker: number[] = [];
    const page: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const params: Params = { ...base, strategy, ranks: RANKS, seq: DRAG_SEQS[i % 2] as number };
      const t0 = performance.now();
      const { reply, transfer } = planner.answer({ version: i, params });
      const t1 = performance.now();
      const data = structuredClone(reply, { transfer });
      const schedule = 'priced' in data && data.schedule ? decodeSchedule(data.schedule) : null;
      if (schedule?.valid) void schedule.steps[0]?.compute[0]?.tiles;
      const t2 = performance.now();
      if (i >= WARMUP) {
        worker.push((t1 - t0) / 1000);
        page.push((t2 - t1) / 1000);
      }
    }
    answerRows.push([strategy, cell(worker), cell(page)]);
  }
  printTable(answerRows);
}
