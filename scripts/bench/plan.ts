// `npm run bench -- plan`: how long plan() takes (schedule + pricing) at 64 ranks for 1K, 128K and
// 10M modelled tokens, per strategy. The schedule is block-granular, so the time should not grow
// with the token count. Prints only; timing is never a pass/fail test.

import { applyModelPreset, DEFAULT_PARAMS, STRATEGY_IDS, type Params } from '../../src/model/params.ts';
import { plan } from '../../src/model/plan.ts';
import { formatSeconds, formatTokens } from '../../src/model/format.ts';

const SEQS = [1024, 131072, 10 * 1024 * 1024];
const RANKS = 64;
const RUNS = 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

export async function run(): Promise<void> {
  // Llama 3 70B: 64 query heads and 8 K/V heads, so Ulysses, Megatron SP (t = 64) and USP are all
  // valid at 64 ranks.
  const base: Params = applyModelPreset({ ...DEFAULT_PARAMS, ranks: RANKS, ulysses: 8 }, 'llama3-70b');
  console.log(`plan() median of ${RUNS} runs, ${RANKS} ranks, Llama 3 70B (USP: Ulysses 8 × ring 8)`);
  const header = ['strategy', ...SEQS.map((s) => `${formatTokens(s)} tokens`), 'steps'];
  const rows: string[][] = [header];
  for (const strategy of STRATEGY_IDS) {
    const row: string[] = [strategy];
    let steps = '';
    for (const seq of SEQS) {
      const params: Params = { ...base, strategy, seq };
      plan(params); // warm-up (JIT)
      const times: number[] = [];
      let valid = true;
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        const p = plan(params);
        times.push((performance.now() - t0) / 1000);
        valid = p.valid;
        steps = p.schedule.valid ? String(p.schedule.steps.length) : 'invalid';
      }
      row.push(`${formatSeconds(median(times))}${valid ? '' : ' (invalid)'}`);
    }
    row.push(steps);
    rows.push(row);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
}
