// `npm run bench -- plan`: how long plan() (schedule + pricing) and buildSchedule() alone take,
// per strategy, at 8, 32 and 64 ranks, then plan() at 64 ranks for 1K, 128K and 10M modelled
// tokens. The UI calls plan() on every slider move, so it must fit well inside one frame. The
// schedule is block-granular, so the time should not grow with the token count. Prints only;
// timing is never a pass/fail test (medians of warm runs; a loaded machine shifts them).

import { applyModelPreset, DEFAULT_PARAMS, STRATEGY_IDS, type Params } from '../../src/model/params.ts';
import { plan } from '../../src/model/plan.ts';
import { buildSchedule } from '../../src/model/strategies/index.ts';
import { formatSeconds, formatTokens } from '../../src/model/format.ts';

const SEQS = [1024, 131072, 10 * 1024 * 1024];
const RANK_COUNTS = [8, 32, 64];
const RANKS = 64;
const RUNS = 15;
const WARMUP = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Median seconds of `RUNS` warm calls. Each call gets a fresh params object with a new seed
 * (which the plan does not depend on), so a cache keyed on params could not serve it. */
function time(params: Params, fn: (p: Params) => unknown): number {
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
  return median(times);
}

function printTable(rows: string[][]): void {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
}

export async function run(): Promise<void> {
  // Llama 3 70B: 64 query heads and 8 K/V heads, so Ulysses, Megatron SP (t = 64) and USP are all
  // valid at 64 ranks.
  const base: Params = applyModelPreset({ ...DEFAULT_PARAMS, ulysses: 8 }, 'llama3-70b');

  console.log(`median of ${RUNS} runs after ${WARMUP} warm-up calls, Llama 3 70B, ${formatTokens(base.seq)} tokens (USP: Ulysses 8 × ring ranks/8)`);
  const byRanks: string[][] = [['strategy', ...RANK_COUNTS.map((p) => `plan ${p}r`), ...RANK_COUNTS.map((p) => `schedule ${p}r`)]];
  for (const strategy of STRATEGY_IDS) {
    const row: string[] = [strategy];
    const planCells: string[] = [];
    const scheduleCells: string[] = [];
    for (const ranks of RANK_COUNTS) {
      const params: Params = { ...base, strategy, ranks };
      const valid = plan(params).valid;
      planCells.push(`${formatSeconds(time(params, plan))}${valid ? '' : ' (invalid)'}`);
      scheduleCells.push(formatSeconds(time(params, buildSchedule)));
    }
    byRanks.push([...row, ...planCells, ...scheduleCells]);
  }
  printTable(byRanks);

  console.log(`\nplan() median of ${RUNS} runs after ${WARMUP} warm-up calls, ${RANKS} ranks, by modelled tokens`);
  const bySeq: string[][] = [['strategy', ...SEQS.map((s) => `${formatTokens(s)} tokens`), 'steps']];
  for (const strategy of STRATEGY_IDS) {
    const row: string[] = [strategy];
    let steps = '';
    for (const seq of SEQS) {
      const params: Params = { ...base, strategy, ranks: RANKS, seq };
      const p = plan(params);
      steps = p.schedule.valid ? String(p.schedule.steps.length) : 'invalid';
      row.push(`${formatSeconds(time(params, plan))}${p.valid ? '' : ' (invalid)'}`);
    }
    row.push(steps);
    bySeq.push(row);
  }
  printTable(bySeq);
}
