// `npm run bench -- interaction`: main-thread time of ONE parameter change in the real app, in
// headless Chromium (SwiftShader WebGPU), at 8, 32 and 64 ranks. Prints p50/p95; never asserts.
//
// Budget: one change fits one frame, ≤ 16 ms of main thread at 64 ranks for plan(), the readouts
// and the scene update together. The verification is not in it: it is posted to a worker
// (src/app/verification.worker.ts), and its main-thread cost on arrival is printed separately.
//
// A change = __shardscopeTest.setParams(...) then flush() (the store otherwise notifies once per
// frame), timed with performance.now() around both; the parts come from the app's own counters
// (plan ms in the store, scene.setSchedule ms in main.ts). Changes alternate the modelled sequence
// length (a slider drag) and, every fourth, the head count (which also reruns the verification).
// A second pass makes 20 changes in 2 s and reports the longest gap between animation frames.
//
// Starts its own vite server on INTERACTION_BENCH_PORT (default 4191, or the next free port).

import { existsSync } from 'node:fs';
import { chromium, type Page } from '@playwright/test';
import { createServer } from 'vite';
import { CHROMIUM_PATH, WEBGPU_ARGS } from '../chromium.ts';
import { frameGapsDuring } from '../../e2e/helpers/frameGaps.ts';

const BUDGET_MS = 16;
const CHANGES = Number(process.env.INTERACTION_CHANGES ?? 30);
const CASES = [
  { label: 'zigzag, 8 ranks', hash: 'strategy=zigzag&ranks=8' },
  { label: 'zigzag, 32 ranks', hash: 'strategy=zigzag&ranks=32' },
  { label: 'zigzag, 64 ranks', hash: 'strategy=zigzag&ranks=64' },
  { label: 'all-gather, 64 ranks', hash: 'strategy=allgather&ranks=64' },
];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

interface Sample {
  total: number;
  plan: number;
  scene: number;
  /** The readout charts, drawn in their own task after the frame (performance.measure 'shardscope.charts'). */
  charts: number;
}

interface Stats {
  store: { plans: number; planMs: number; notifications: number; notifyMs: number };
  sceneMs: number;
  verificationMs: number;
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
      const t0 = performance.now();
      test.setParams(change);
      test.flush();
      const total = performance.now() - t0;
      const after = test.stats();
      const charts0 = chartMs();
      await frame();
      await frame();
      out.push({ total, plan: after.store.planMs - before.store.planMs, scene: after.sceneMs - before.sceneMs, charts: chartMs() - charts0 });
    }
    return out;
  }, n);
}

export async function run(): Promise<void> {
  if (!existsSync(CHROMIUM_PATH)) {
    console.log(`interaction bench skipped: no Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH)`);
    return;
  }
  const port = Number(process.env.INTERACTION_BENCH_PORT ?? 4191);
  const server = await createServer({ server: { port, strictPort: false, host: '127.0.0.1' }, logLevel: 'error' });
  await server.listen();
  const base = (server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`).replace(/\/$/, '');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: WEBGPU_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    // tsx (esbuild keepNames) wraps named functions in __name(); the page needs it for page.evaluate bodies.
    await page.addInitScript('window.__name = (f) => f;');
    console.log(`main-thread ms per parameter change, 1280×720, headless Chromium (SwiftShader WebGPU), ${CHANGES} changes per case`);
    console.log(`budget: one change ≤ ${BUDGET_MS} ms of main thread at 64 ranks (plan() + readouts + scene update); the verification runs in a worker`);
    console.log('case                    total p50  total p95   plan p50   scene p50  readouts+rest p50  charts p50 (own task)  budget  | 20 changes in 2 s: max frame gap');
    for (const c of CASES) {
      // A query string, so each case is a fresh page load (a hash change would reuse the page).
      await page.goto(`${base}/?case=${encodeURIComponent(c.label)}#${c.hash}`, { waitUntil: 'domcontentloaded', timeout: 180_000 });
      await page.waitForFunction(() => (window as unknown as { shardscope?: { ready?: boolean } }).shardscope?.ready === true, undefined, { timeout: 120_000 });
      await measureChanges(page, 4); // warm-up: JIT, first layout
      const samples = await measureChanges(page, CHANGES);
      const gaps = await frameGapsDuring(page, Array.from({ length: 20 }, (_, i) => ({ heads: i % 2 ? 16 : 32, seq: 65536 * (1 + (i % 5)) })), 500);
      const total = samples.map((s) => s.total);
      const rest = samples.map((s) => s.total - s.plan - s.scene);
      const f = (x: number): string => x.toFixed(1).padStart(9);
      const p95 = pct(total, 95);
      const verdict = p95 <= BUDGET_MS ? 'within' : 'OVER';
      console.log(
        `${c.label.padEnd(22)} ${f(pct(total, 50))}  ${f(p95)}  ${f(pct(samples.map((s) => s.plan), 50))}  ${f(pct(samples.map((s) => s.scene), 50))}  ${f(pct(rest, 50))}          ${f(pct(samples.map((s) => s.charts), 50))}             ${verdict.padEnd(6)} | ${gaps.maxGapMs.toFixed(0)} ms over ${gaps.frames} frames`,
      );
    }
    console.log('total = setParams + the store notification (plan, scene, text readouts, panel, URL, verification post), one task; charts are drawn in the next task, after a frame.');
    console.log('scene = scene.setSchedule (src/scene, rebuilt on every schedule change); readouts+rest = the readouts, the panel, the URL write and the verification post.');
    console.log('Wall-clock in the page on a shared 2-core machine: expect noise; compare p50s.');
  } finally {
    await browser.close();
    await server.close();
  }
}
