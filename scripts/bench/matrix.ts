// Node micro-bench of the scene's work matrix at 64 ranks: buildWorkMatrix, then the first read of
// `owner` and `sharers` (computed lazily, on the first frame after a parameter change; issue #10's
// budget is 16 ms of main thread per change at 64 ranks, for everything). Every strategy at seq 64K,
// 128K and 512K, DEFAULT_PARAMS otherwise (Ulysses and Megatron SP with 64 heads: they need
// P | heads). Prints p50/p95 in ms; never asserts.
// Run: `npx tsx scripts/bench/matrix.ts [runs]`; also the first part of `npm run bench -- scene`.

import { pathToFileURL } from 'node:url';
import { DEFAULT_PARAMS, STRATEGY_IDS, type Params } from '../../src/model/params.ts';
import type { ValidSchedule } from '../../src/model/schedule.ts';
import { buildSchedule } from '../../src/model/strategies/index.ts';
import { matrixCells } from '../../src/scene/layout.ts';
import { buildWorkMatrix } from '../../src/scene/matrix.ts';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export function run(runs = 20): void {
  const cases: { strategy: string; seq: number; schedule: ValidSchedule; n: number }[] = [];
  console.log(`work matrix at 64 ranks, node, ms over ${runs} runs: build = buildWorkMatrix; owners = first read of owner + sharers`);
  for (const strategy of STRATEGY_IDS) {
    for (const seq of [65536, 131072, 524288]) {
      const heads = strategy === 'ulysses' || strategy === 'megatron-sp' ? { heads: 64, kvHeads: 64 } : {};
      const params: Params = { ...DEFAULT_PARAMS, strategy, seq, ranks: 64, ...heads };
      const schedule = buildSchedule(params);
      if (schedule.valid) cases.push({ strategy, seq, schedule, n: matrixCells(schedule.seq, schedule.ranks) });
      else console.log(`${strategy} at seq ${seq}: invalid (${schedule.reason})`);
    }
  }
  const time = (c: (typeof cases)[number]): [number, number] => {
    const t0 = performance.now();
    const m = buildWorkMatrix(c.schedule, c.n);
    const t1 = performance.now();
    if (m.owner.length + m.sharers.length < 0) throw new Error('unreachable');
    return [t1 - t0, performance.now() - t1];
  };
  // Warm up every case first, as the page has after a few changes.
  for (let i = 0; i < 3; i++) for (const c of cases) time(c);
  const build = cases.map(() => [] as number[]);
  const owners = cases.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) {
    cases.forEach((c, k) => {
      const [b, o] = time(c);
      build[k]?.push(b);
      owners[k]?.push(o);
    });
  }
  console.log('strategy      seq      cells  build p50  build p95  owners p50  owners p95');
  const f = (x: number, w: number): string => x.toFixed(2).padStart(w);
  cases.forEach((c, k) => {
    const b = build[k] ?? [];
    const o = owners[k] ?? [];
    console.log(`${c.strategy.padEnd(12)} ${String(c.seq).padStart(7)} ${String(c.n).padStart(6)} ${f(pct(b, 50), 10)} ${f(pct(b, 95), 10)} ${f(pct(o, 50), 11)} ${f(pct(o, 95), 11)}`);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) run(Number(process.argv[2] ?? 20));
