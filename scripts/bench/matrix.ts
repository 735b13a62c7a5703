// Node micro-bench of the scene's work matrix: buildWorkMatrix, then the owners (`owner` and
// `sharers`, computed on first read, as the first frame after a parameter change does), at 64 ranks
// for every strategy and seq 64K, 128K and 512K (DEFAULT_PARAMS otherwise; Ulysses and Megatron SP
// with 64 heads, since they need P | heads). Prints p50/p95 in ms; never asserts.
// Run: `npx tsx scripts/bench/matrix.ts` (also the first part of `npm run bench -- scene`).

import { pathToFileURL } from 'node:url';
import { DEFAULT_PARAMS, STRATEGY_IDS, type Params } from '../../src/model/params.ts';
import { buildSchedule } from '../../src/model/strategies/index.ts';
import { buildWorkMatrix } from '../../src/scene/matrix.ts';
import { matrixCells } from '../../src/scene/layout.ts';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export function run(runs = 20): void {
  console.log('work matrix at 64 ranks, node (ms over %i runs): build = buildWorkMatrix, owners = first read of owner + sharers', runs);
  console.log('strategy      seq      cells  build p50  build p95  owners p50  owners p95');
  for (const strategy of STRATEGY_IDS) {
    for (const seq of [65536, 131072, 524288]) {
      const heads = strategy === 'ulysses' || strategy === 'megatron-sp' ? { heads: 64, kvHeads: 64 } : {};
      const params: Params = { ...DEFAULT_PARAMS, strategy, seq, ranks: 64, ...heads };
      const schedule = buildSchedule(params);
      if (!schedule.valid) {
        console.log(`${strategy.padEnd(12)} ${String(seq).padStart(7)}  invalid: ${schedule.reason}`);
        continue;
      }
      const n = matrixCells(schedule.seq, schedule.ranks);
      const build: number[] = [];
      const owners: number[] = [];
      for (let i = 0; i < runs + 3; i++) {
        const t0 = performance.now();
        const m = buildWorkMatrix(schedule, n);
        const t1 = performance.now();
        if (m.owner.length + m.sharers.length < 0) throw new Error('unreachable');
        const t2 = performance.now();
        if (i >= 3) {
          build.push(t1 - t0);
          owners.push(t2 - t1);
        }
      }
      const f = (x: number, w: number): string => x.toFixed(2).padStart(w);
      console.log(`${strategy.padEnd(12)} ${String(seq).padStart(7)} ${String(n).padStart(6)} ${f(pct(build, 50), 10)} ${f(pct(build, 95), 10)} ${f(pct(owners, 50), 11)} ${f(pct(owners, 95), 11)}`);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) run(Number(process.argv[2] ?? 20));
