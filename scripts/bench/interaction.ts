// `npm run bench -- interaction`: main-thread time of ONE parameter change in the real app, in
// headless Chromium (SwiftShader WebGPU), at 8, 32 and 64 ranks. Prints p50/p95; never asserts.
//
// Budget (issue #10): one change fits one frame, ≤ 16 ms of main thread at 64 ranks for plan(), the
// readouts and the scene update together, with the verification started asynchronously. Plans are
// computed in the planner worker (src/app/plan.worker.ts); the verification and the comparison run in
// their own workers.
//
// A change = __shardscopeTest.setParams(...) then flush() (the store otherwise notifies once per
// frame), then the planner's answer (the page draws the new schedule and numbers when it arrives),
// then two animation frames; the next change starts after that, so each window holds one whole
// change. From a Chromium trace of the renderer main thread's thread time (mainThreadCpu.ts says
// why thread time and not wall time):
// - change work (the budget's measure): the CPU inside the app's spans of a change
//   (src/app/measure.ts): the store's notification (panel, URL, the planner's request), the
//   planner's answer (reading it, decoding, the scene's setSchedule, the text readouts), the scene's
//   first frame of the new schedule, and the charts;
// - longest task: the longest main-thread task of the change (a frame cannot be shown while it runs);
// - all main-thread CPU from one change to the next: the above plus the browser's style, layout and
//   paint of what changed, garbage collection, the idle frames while the worker plans, the URL write.
// Changes alternate the modelled sequence length (a slider drag) and, every fourth, the head count
// (which also reruns the verification). A second pass makes 20 changes in 2 s and reports the
// longest gap between animation frames; a third drags: a change on every frame for 2 s, reporting
// the frame intervals and how many plans were drawn; then, for reference, the frame intervals of
// the animation playing with no change (what the software GPU allows on its own).
//
// Builds the app into a temporary folder and serves it with vite preview on INTERACTION_BENCH_PORT
// (default 4191, or the next free port). INTERACTION_CASES=zigzag,ring keeps the cases whose label
// contains one of the words ("zigzag 64" is one case); INTERACTION_CHANGES sets the changes per case (60); INTERACTION_DETAIL=1
// prints each change's parts (which kind of change makes the tail).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { build, preview } from 'vite';
import { CHROMIUM_PATH, WEBGPU_ARGS } from '../chromium.ts';
import { frameGapsDuring } from '../../e2e/helpers/frameGaps.ts';
import { traceMainThread } from './mainThreadCpu.ts';

const BUDGET_MS = 16;
/**
 * The app's User Timing spans that make up a change (src/app/measure.ts): the store's notification
 * (panel, URL, the planner's request), the planner's answer (reading it, decoding, the scene's
 * setSchedule, the text readouts), the scene's first frame of the new schedule, the charts.
 */
const CHANGE_SPANS = ['shardscope.change', 'shardscope.answer', 'shardscope.scene', 'shardscope.charts'];
// 60, not 30: the p95 of 30 changes is the second-worst change, of 60 the third-worst, a steadier
// estimate of the tail on a noisy machine.
const CHANGES = Number(process.env.INTERACTION_CHANGES ?? 60);
/** Changes made before the measured ones (JIT, first layout). */
const WARM_UP = 8;
const ALL_CASES = [
  { label: 'zigzag, 8 ranks', hash: 'strategy=zigzag&ranks=8' },
  { label: 'zigzag, 32 ranks', hash: 'strategy=zigzag&ranks=32' },
  { label: 'zigzag, 64 ranks', hash: 'strategy=zigzag&ranks=64' },
  { label: 'ring, 64 ranks', hash: 'strategy=ring&ranks=64' },
  { label: 'all-gather, 64 ranks', hash: 'strategy=allgather&ranks=64' },
];
// INTERACTION_CASES=zigzag,ring keeps the cases whose label (its comma dropped) contains one of the words: "zigzag 64" is one case.
const CASES = ALL_CASES.filter((c) => !process.env.INTERACTION_CASES || process.env.INTERACTION_CASES.split(',').some((w) => c.label.replace(',', '').includes(w.trim())));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

interface Stats {
  /** The params version, and the version of the plan the page shows. */
  version: number;
  planVersion?: number;
}

/**
 * The frames shown over `ms`: their intervals (p50, p95, max) and how many distinct plans the page
 * drew. `drag`: a new sequence length on every animation frame, as lil-gui fires while a slider
 * moves (the planner answers the newest params it can keep up with). Without it, the page runs as
 * it is: with the animation playing, the reference for what the software GPU allows on its own.
 */
async function frameIntervals(page: Page, ms: number, drag: boolean): Promise<{ frames: number; p50: number; p95: number; max: number; drawn: number }> {
  return page.evaluate(async ({ span, drag }) => {
    const test = (window as unknown as { __shardscopeTest: { setParams(c: object): void; stats(): { planVersion?: number } } }).__shardscopeTest;
    const stamps: number[] = [];
    const drawn = new Set<number | undefined>();
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const tick = (t: number): void => {
        stamps.push(t);
        drawn.add(test.stats().planVersion);
        if (t - t0 > span) return resolve();
        if (drag) test.setParams({ seq: 65536 + 4096 * (stamps.length % 96) });
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const gaps = stamps.slice(1).map((t, i) => t - (stamps[i] as number)).sort((a, b) => a - b);
    const q = (p: number): number => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))] ?? NaN;
    return { frames: stamps.length, p50: q(0.5), p95: q(0.95), max: gaps[gaps.length - 1] ?? NaN, drawn: drawn.size };
  }, { span: ms, drag });
}

/** frameIntervals with the animation playing and no change (null when Space did not start playback). */
async function playingFrames(page: Page, ms: number): Promise<{ p50: number; p95: number; max: number } | null> {
  const playing = (): Promise<boolean> => page.evaluate(() => (window as unknown as { shardscope: { playback: { playing: boolean } } }).shardscope.playback.playing);
  if (!(await playing())) await page.keyboard.press('Space');
  if (!(await playing())) return null;
  const result = await frameIntervals(page, ms, false);
  await page.keyboard.press('Space');
  return result;
}

/**
 * Makes `n` changes, each drawn before the next (see the header): changes number `first` … of one
 * sequence, so a run that follows another starts with a real change (the warm-up's last params).
 */
async function makeChanges(page: Page, n: number, first = 0): Promise<void> {
  await page.evaluate(async ({ count, first }) => {
    const test = (window as unknown as { __shardscopeTest: { setParams(c: object): void; flush(): void; stats(): Stats } }).__shardscopeTest;
    const seqs = [65536, 98304, 131072, 196608, 262144, 393216, 524288];
    const frame = (): Promise<void> => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    for (let k = 0; k < count; k++) {
      const i = first + k;
      const change = i % 4 === 3 ? { heads: i % 8 === 3 ? 16 : 32, seq: seqs[i % seqs.length] } : { seq: seqs[i % seqs.length] };
      performance.mark(`change${k}`);
      test.setParams(change);
      test.flush();
      // (A page without a planner worker, planVersion undefined, has drawn the change by now.)
      while (test.stats().planVersion !== undefined && test.stats().planVersion !== test.stats().version) await frame();
      await frame();
      await frame();
    }
    performance.mark('changeend');
  }, { count: n, first });
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
    console.log(`main-thread CPU per parameter change, 1280×720, headless Chromium (SwiftShader WebGPU), ${CHANGES} changes per case`);
    console.log(`budget: the change work (plan() + readouts + scene update) ≤ ${BUDGET_MS} ms of main thread at 64 ranks; plans, the verification and the comparison run in workers`);
    console.log('                        change work, ms         | longest task | all main-thread CPU | 20 changes in 2 s');
    console.log('case                     p50     p95  budget   |   p50    p95 |      p50       p95 | max frame gap');
    for (const c of CASES) {
      // A query string, so each case is a fresh page load (a hash change would reuse the page).
      await page.goto(`${base}/?case=${encodeURIComponent(c.label)}#${c.hash}`, { waitUntil: 'domcontentloaded', timeout: 180_000 });
      await page.waitForFunction(() => (window as unknown as { shardscope?: { ready?: boolean } }).shardscope?.ready === true, undefined, { timeout: 120_000 });
      await page.evaluate(() => (window as unknown as { __shardscopeTest: { measureSpans?(on: boolean): void } }).__shardscopeTest.measureSpans?.(true));
      // Steady state, as a user meets it after the page has settled: the first verification run done
      // (its set-up and the page load leave garbage that the first collections of a session sweep),
      // then a warm-up of changes for the JIT and the first layout.
      await page.waitForFunction(() => (window as unknown as { shardscope: { verification?: unknown } }).shardscope.verification != null, undefined, { timeout: 300_000 });
      await makeChanges(page, WARM_UP);
      const trace = await traceMainThread(browser, page);
      await makeChanges(page, CHANGES, WARM_UP);
      const { cpu, longestTask, inSpans, bySpan } = await trace.stop('change', CHANGE_SPANS);
      if (process.env.INTERACTION_DETAIL)
        inSpans.forEach((total, i) => console.log(`  change ${String(i).padStart(2)} ${(WARM_UP + i) % 4 === 3 ? 'heads+seq' : 'seq      '} ${total.toFixed(1).padStart(6)} ms: ${CHANGE_SPANS.map((name) => `${name.replace('shardscope.', '')} ${(bySpan[name]?.[i] ?? 0).toFixed(1)}`).join(', ')}`));
      const gaps = await frameGapsDuring(page, Array.from({ length: 20 }, (_, i) => ({ heads: i % 2 ? 16 : 32, seq: 65536 * (1 + (i % 5)) })), 500);
      const f = (x: number, w = 7): string => x.toFixed(1).padStart(w);
      const p95 = pct(inSpans, 95);
      const verdict = p95 <= BUDGET_MS ? 'within' : 'OVER';
      console.log(
        `${c.label.padEnd(22)} ${f(pct(inSpans, 50))} ${f(p95)}  ${verdict.padEnd(6)}   | ${f(pct(longestTask, 50), 5)} ${f(pct(longestTask, 95), 6)} | ${f(pct(cpu, 50), 8)} ${f(pct(cpu, 95), 9)} | ${gaps.maxGapMs.toFixed(0)} ms over ${gaps.frames} frames`,
      );
      const d = await frameIntervals(page, 2000, true);
      console.log(`${''.padEnd(22)} slider drag, a change every frame for 2 s: ${d.frames} frames, interval p50 ${d.p50.toFixed(0)} / p95 ${d.p95.toFixed(0)} / max ${d.max.toFixed(0)} ms, ${d.drawn} plans drawn`);
      const idle = await playingFrames(page, 2000);
      if (idle) console.log(`${''.padEnd(22)} for reference, the animation playing for 2 s with no change: interval p50 ${idle.p50.toFixed(0)} / p95 ${idle.p95.toFixed(0)} / max ${idle.max.toFixed(0)} ms`);
      console.log(`${''.padEnd(22)} change work p50 / p95 by part: ${CHANGE_SPANS.map((name) => `${name.replace('shardscope.', '')} ${pct(bySpan[name] ?? [], 50).toFixed(1)} / ${pct(bySpan[name] ?? [], 95).toFixed(1)}`).join(', ')}`);
    }
    console.log('change work = CPU inside the app\'s spans of a change: the store\'s notification, the planner\'s answer (decode, scene setSchedule, text readouts), the scene\'s first frame, the charts.');
    console.log('all main-thread CPU = thread time from one change to the next: the change work plus style, layout and paint, garbage collection, idle frames while the worker plans, the URL write.');
    console.log('A shared 2-core machine with a software GPU: expect noise, and compare runs made on a quiet machine.');
  } finally {
    await browser.close();
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}
