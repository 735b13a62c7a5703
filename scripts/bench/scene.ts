// `npm run bench -- scene`: CPU time per frame of the scene update (instance buffers and labels,
// not the GPU) in headless Chromium, at 8, 32 and 64 ranks with the block cap reached
// (1M tokens: the display block size is then set by the cap, not by the sequence).
// Prints p50/p95; never asserts. Goal: < 2 ms per frame.
//
// Starts its own vite server on SCENE_BENCH_PORT (default 4190, or the next free port) and opens src/scene/harness.html
// in the system Chromium (CHROMIUM_PATH, default /usr/bin/chromium) with the SwiftShader WebGPU
// flags of playwright.config.ts.

import { existsSync } from 'node:fs';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';
import { CHROMIUM_PATH, WEBGPU_ARGS } from '../chromium.ts';
import { run as runMatrixBench } from './matrix.ts';


const CASES = [
  { label: 'ring, 8 ranks', hash: 'strategy=ring&ranks=8&seq=1M' },
  { label: 'all-gather, 8 ranks', hash: 'strategy=allgather&ranks=8&seq=1M' },
  { label: 'striped, 32 ranks', hash: 'strategy=striped&ranks=32&seq=1M' },
  { label: 'all-gather, 32 ranks', hash: 'strategy=allgather&ranks=32&seq=1M' },
  { label: 'zigzag, 64 ranks', hash: 'strategy=zigzag&ranks=64&seq=1M' },
  { label: 'all-gather, 64 ranks', hash: 'strategy=allgather&ranks=64&seq=1M' },
];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export async function run(): Promise<void> {
  // The work matrix's owners in node first (no browser needed): part of every parameter change.
  runMatrixBench();
  const exe = CHROMIUM_PATH;
  if (!existsSync(exe)) {
    console.log(`scene bench skipped: no Chromium at ${exe} (set CHROMIUM_PATH)`);
    return;
  }
  const port = Number(process.env.SCENE_BENCH_PORT ?? 4190);
  const server = await createServer({ server: { port, strictPort: false, host: '127.0.0.1' }, logLevel: 'error' });
  await server.listen();
  const base = (server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`).replace(/\/$/, '');
  const browser = await chromium.launch({ executablePath: exe, args: WEBGPU_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    console.log('scene update CPU time per frame (ms), 1280×720, headless Chromium, SwiftShader WebGPU; goal < 2 ms');
    console.log('case                   instances  tween p50  tween p95  step p50  step p95');
    for (const c of CASES) {
      // A query (not a hash), so each case is a fresh page load.
      await page.goto(`${base}/src/scene/harness.html?${c.hash}`, { waitUntil: 'domcontentloaded', timeout: 180_000 });
      await page.waitForFunction(() => (window as unknown as { __harness?: { ready: boolean } }).__harness?.ready === true, undefined, { timeout: 120_000 });
      const r = await page.evaluate(() => {
        const h = (window as unknown as { __harness: { benchUpdate(k: 'tween' | 'step', n: number, b?: number): number[]; stats(): { instances: number; dropped: number }; info(): { backend: string } } }).__harness;
        h.benchUpdate('step', 5); // warm up
        const tween = h.benchUpdate('tween', 40);
        const step = h.benchUpdate('step', 40);
        let instances = 0;
        // The busiest frame: walk the steps once and keep the maximum instance count.
        for (let i = 0; i < 60; i++) {
          h.benchUpdate('step', 1, 1);
          instances = Math.max(instances, h.stats().instances);
        }
        return { tween, step, instances, dropped: h.stats().dropped, backend: h.info().backend };
      });
      const f = (x: number): string => x.toFixed(3).padStart(9);
      console.log(`${c.label.padEnd(22)} ${String(r.instances).padStart(9)}  ${f(pct(r.tween, 50))}  ${f(pct(r.tween, 95))} ${f(pct(r.step, 50))} ${f(pct(r.step, 95))}${r.dropped ? `  (${r.dropped} dropped by the cap)` : ''}`);
    }
    // A parameter change: scene.setSchedule per strategy at 64 ranks (DEFAULT_PARAMS otherwise: 128K tokens).
    await page.goto(`${base}/src/scene/harness.html?ranks=64`, { waitUntil: 'domcontentloaded', timeout: 180_000 });
    await page.waitForFunction(() => (window as unknown as { __harness?: { ready: boolean } }).__harness?.ready === true, undefined, { timeout: 120_000 });
    console.log('\nparameter change at 64 ranks, seq 128K (ms, median of 5 changes from ring to the strategy); goal: a few ms');
    console.log('strategy                  setSchedule  first frame');
    const changes: [string, Record<string, unknown>][] = [
      ['allgather', { strategy: 'allgather' }],
      ['ring', { strategy: 'ring' }],
      ['zigzag', { strategy: 'zigzag' }],
      ['striped', { strategy: 'striped' }],
      ['ulysses (64 heads)', { strategy: 'ulysses', heads: 64, kvHeads: 64 }],
      ['megatron-sp (64 heads)', { strategy: 'megatron-sp', heads: 64, kvHeads: 64 }],
      ['usp', { strategy: 'usp' }],
    ];
    for (const [label, change] of changes) {
      const r = await page.evaluate((c) => (window as unknown as { __harness: { benchSetSchedule(c: unknown, n?: number): { valid: boolean; setSchedule: number[]; firstFrame: number[] } } }).__harness.benchSetSchedule(c, 5), change);
      const f = (x: number): string => x.toFixed(2).padStart(11);
      console.log(`${label.padEnd(24)} ${f(pct(r.setSchedule, 50))}  ${f(pct(r.firstFrame, 50))}${r.valid ? '' : '  (invalid at these settings: the message only)'}`);
    }
    console.log('tween: frames inside a step (moving blocks only); step: every frame on a new step (static content rebuilt).');
    console.log('Times are wall-clock in the page on a shared 2-core machine; performance.now() is coarsened, so each sample is a batch of 20 frames.');
  } finally {
    await browser.close();
    await server.close();
  }
}
