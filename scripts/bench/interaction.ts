// `npm run bench -- interaction`: main-thread time of ONE parameter change in the real app, in
// headless Chromium (SwiftShader WebGPU), at 8, 32 and 64 ranks. Prints p50/p95; never asserts.
//
// Budget: one change fits one frame, ≤ 16 ms of main thread at 64 ranks for plan(), the readouts
// and the scene update together. The verification and the comparison are not in it: they run in
// workers (src/app/verification.worker.ts, src/ui/compare.worker.ts).
//
// A change = __shardscopeTest.setParams(...) then flush() (the store otherwise notifies once per
// frame), then the planner worker's answer (the page draws the new schedule and numbers when it
// arrives), then two animation frames. Measures:
// - main-thread CPU per change (the budget's measure): the renderer main thread's thread time from
//   a Chromium trace, over the change, the answer, its two frames (the scene's rebuild and first
//   draw) and the charts' task; scripts/bench/mainThreadCpu.ts says why thread time and not wall time;
// - the longest main-thread task of each change: what holds back a frame;
// - wall time of setParams + flush, with its parts from the app's own counters (schedule and plan ms
//   computed on the main thread, scene.setSchedule ms in main.ts): inflated on a loaded machine.
// Changes alternate the modelled sequence length (a slider drag) and, every fourth, the head count
// (which also reruns the verification). A second pass makes 20 changes in 2 s and reports the
// longest gap between animation frames.
//
// Builds the app into a temporary folder and serves it with vite preview on INTERACTION_BENCH_PORT
// (default 4191, or the next free port).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { build, preview } from 'vite';
import { CHROMIUM_PATH, WEBGPU_ARGS } from '../chromium.ts';
import { frameGapsDuring } from '../../e2e/helpers/frameGaps.ts';
import { traceMainThread } from './mainThreadCpu.ts';

const BUDGET_MS = 16;
const CHANGES = Number(process.env.INTERACTION_CHANGES ?? 30);
const ALL_CASES = [
  { label: 'zigzag, 8 ranks', hash: 'strategy=zigzag&ranks=8' },
  { label: 'zigzag, 32 ranks', hash: 'strategy=zigzag&ranks=32' },
  { label: 'zigzag, 64 ranks', hash: 'strategy=zigzag&ranks=64' },
  { label: 'ring, 64 ranks', hash: 'strategy=ring&ranks=64' },
  { label: 'all-gather, 64 ranks', hash: 'strategy=allgather&ranks=64' },
];
// INTERACTION_CASES=zigzag,ring keeps the cases whose label contains one of the words.
const CASES = ALL_CASES.filter((c) => !process.env.INTERACTION_CASES || process.env.INTERACTION_CASES.split(',').some((w) => c.label.includes(w.trim())));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

interface Sample {
  total: number;
  /** The schedule built for the scene plus any plan priced on the main thread (the pricing worker's are not). */
  plan: number;
  scene: number;
  /** The readout charts, drawn in their own task after the frame (performance.measure 'shardscope.charts'). */
  charts: number;
}

interface Stats {
  store: { plans: number; planMs: number; schedules: number; scheduleMs: number; priced: number; notifications: number; notifyMs: number };
  sceneMs: number;
  verificationMs: number;
  /** The params version, and the version of the plan the page shows. */
  version: number;
  planVersion: number;
}

async function measureChanges(page: Page, n: number): Promise<Sample[]> {
  return page.evaluate(async (count) => {
    const test = (window as unknown as { __shardscopeTest: { setParams(c: object): void; flush(): void; stats(): Stats } }).__shardscopeTest;
    const seqs = [65536, 98304, 131072, 196608, 262144, 393216, 524288];
    const frame = (): Promise<void> => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const out: { total: number; plan: number; scene: number; charts: number }[] = [];
    const chartMs = (): number => performance.getEntriesByName('shardscope.charts').reduce((a, e) => a + e.duration, 0);
    for (let i = 0; i < count; i++) {
      const change = i % 4 === 3 ? { heads: i % 8 === 3 ? 16 : 32, seq: seqs[i % seqs.length] } : { seq: seqs[i % seqs.length] };
      const before = test.stats();
      performance.clearMeasures('shardscope.charts');
      performance.mark(`change${i}`);
      const t0 = performance.now();
      test.setParams(change);
      test.flush();
      const total = performance.now() - t0;
      const charts0 = chartMs();
      // Every change is drawn (the planner answers each one before the next), so each window holds one whole change.
      while (test.stats().planVersion !== test.stats().version) await frame();
      const after = test.stats();
      await frame();
      await frame();
      out.push({ total, plan: after.store.planMs - before.store.planMs + after.store.scheduleMs - before.store.scheduleMs, scene: after.sceneMs - before.sceneMs, charts: chartMs() - charts0 });
    }
    performance.mark('changeend');
    return out;
  }, n);
}

export async function run(): Promise<void> {
  if (!existsSync(CHROMIUM_PATH)) {
    console.log(`interaction bench skipped: no Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH)`);
    return;
  }
  const port = Number(process.env.INTERACTION_BENCH_PORT ?? 4191);
  // The built app (what a visitor loads, minified, under its CSP), as the e2e suite uses.
  const outDir = mkdtempSync(join(tmpdir(), 'shardscope-bench-'));
  await build({ logLevel: 'error', build: { outDir, emptyOutDir: true } });
  const server = await preview({ logLevel: 'error', build: { outDir }, preview: { port, strictPort: false, host: '127.0.0.1' } });
  const base = (server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`).replace(/\/$/, '');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: WEBGPU_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    // tsx (esbuild keepNames) wraps named functions in __name(); the page needs it for page.evaluate bodies.
    await page.addInitScript('window.__name = (f) => f;');
    console.log(`main-thread ms per parameter change, 1280×720, headless Chromium (SwiftShader WebGPU), ${CHANGES} changes per case`);
    console.log(`budget: one change ≤ ${BUDGET_MS} ms of main thread at 64 ranks (plan() + readouts + scene update); the verification runs in a worker`);
    console.log('                       main-thread CPU/change        | longest task | wall ms of setParams+flush (p50 unless stated)                  | 20 changes in 2 s');
    console.log('case                         p50       p95  budget |   p50    p95 | total p50 total p95   plan    scene readouts+rest charts | max frame gap');
    for (const c of CASES) {
      // A query string, so each case is a fresh page load (a hash change would reuse the page).
      await page.goto(`${base}/?case=${encodeURIComponent(c.label)}#${c.hash}`, { waitUntil: 'domcontentloaded', timeout: 180_000 });
      await page.waitForFunction(() => (window as unknown as { shardscope?: { ready?: boolean } }).shardscope?.ready === true, undefined, { timeout: 120_000 });
      await measureChanges(page, 4); // warm-up: JIT, first layout
      const trace = await traceMainThread(browser, page);
      const samples = await measureChanges(page, CHANGES);
      const { cpu, longestTask } = await trace.stop('change');
      const gaps = await frameGapsDuring(page, Array.from({ length: 20 }, (_, i) => ({ heads: i % 2 ? 16 : 32, seq: 65536 * (1 + (i % 5)) })), 500);
      const total = samples.map((s) => s.total);
      const rest = samples.map((s) => s.total - s.plan - s.scene);
      const f = (x: number): string => x.toFixed(1).padStart(9);
      const p95 = pct(cpu, 95);
      const verdict = p95 <= BUDGET_MS ? 'within' : 'OVER';
      console.log(
        `${c.label.padEnd(22)} ${f(pct(cpu, 50))} ${f(p95)}  ${verdict.padEnd(6)} | ${pct(longestTask, 50).toFixed(1).padStart(5)} ${pct(longestTask, 95).toFixed(1).padStart(6)} | ${f(pct(total, 50))} ${f(pct(total, 95))} ${f(pct(samples.map((s) => s.plan), 50))} ${f(pct(samples.map((s) => s.scene), 50))} ${f(pct(rest, 50))} ${f(pct(samples.map((s) => s.charts), 50))} | ${gaps.maxGapMs.toFixed(0)} ms over ${gaps.frames} frames`,
      );
    }
    console.log('main-thread CPU = thread time of the renderer main thread from the change to the next change: the change, the planner\'s answer (decode, scene rebuild, readouts), two frames and the charts.');
    console.log('longest task = the longest main-thread task in that window (a frame cannot be shown while one runs).');
    console.log('total = setParams + the store notification (panel, URL, comparison, the planner and verification posts), one task; plan = schedule or plan computed on the main thread (0 with the planner worker).');
    console.log('scene = scene.setSchedule (src/scene, rebuilt on every schedule change, when the answer arrives); charts are drawn in their own task, after a frame.');
    console.log('Wall-clock in the page on a shared 2-core machine: expect noise; the CPU columns are the budget\'s measure.');
  } finally {
    await browser.close();
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}
