// The browser half of `npm run bench -- gpu`: serves scripts/bench/ort/index.html with vite, opens it in
// the system Chromium with WebGPU on SwiftShader (the flags of playwright.config.ts), and prints our
// flash-style kernel against ONNX Runtime Web's WebGPU GroupQueryAttention on the same adapter.
// ORT lives in scripts/bench/ort/node_modules (npm install --prefix scripts/bench/ort), outside the
// app's package.json and bundle; without it this part explains how to get it and returns.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './ort/page.ts';
import { CHROMIUM_PATH, WEBGPU_ARGS } from '../chromium.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ortDir = fileURLToPath(new URL('./ort/', import.meta.url));

const fmt = (x: number | null, digits = 1): string => (x === null ? 'n/a' : x.toFixed(digits));

export async function runBrowserBench(seqs: readonly number[], heads: number, headDim: number, reps: number, ep: 'webgpu' | 'wasm' = 'webgpu'): Promise<BenchResult | null> {
  if (!existsSync(`${ortDir}node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs`)) {
    console.log('ONNX Runtime Web comparison: skipped, ORT is not installed for the benchmark. Run: npm install --prefix scripts/bench/ort');
    return null;
  }
  const chromiumPath = CHROMIUM_PATH;
  if (!existsSync(chromiumPath)) {
    console.log(`ONNX Runtime Web comparison: skipped, no Chromium at ${chromiumPath} (set CHROMIUM_PATH).`);
    return null;
  }
  const { createServer } = await import('vite');
  const { chromium } = await import('@playwright/test');
  const server = await createServer({ root, logLevel: 'error', server: { host: '127.0.0.1', port: 0, strictPort: false }, optimizeDeps: { noDiscovery: true, include: [] } });
  await server.listen();
  const base = server.resolvedUrls?.local[0];
  const browser = await chromium.launch({ executablePath: chromiumPath, args: WEBGPU_ARGS });
  try {
    if (!base) throw new Error('vite did not report its URL');
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}scripts/bench/ort/index.html?seqs=${seqs.join(',')}&heads=${heads}&headDim=${headDim}&reps=${reps}&ep=${ep}`);
    const result = (await page.evaluate(async () => (window as unknown as { __bench?: Promise<unknown> }).__bench, undefined)) as BenchResult | undefined;
    if (!result) throw new Error(`the benchmark page did not start (${errors.join('; ') || 'no page error'})`);
    if (result.error) {
      console.log(`browser benchmark failed: ${result.error}`);
      return result;
    }
    console.log(`\nbrowser (Chromium, WebGPU on ${result.adapter}; subgroup sizes ${result.subgroupSizes}), heads ${heads}, head dim ${headDim}, wall time per call incl. upload and readback, fastest of ${reps}:`);
    for (const r of result.results) {
      const ours = `ours ${fmt(r.oursWallMs)} ms (${fmt(r.gflop / (r.oursWallMs / 1000), 2)} GFLOP/s; GPU ${fmt(r.oursGpuMs)} ms; err vs float64 ${r.oursVsCpu.toExponential(1)})`;
      let peer: string;
      if (r.ortError) peer = `ORT failed: ${r.ortError.slice(0, 300)}`;
      else if (!r.ortOk) peer = `ORT (${result.ep}) output WRONG (max err ${r.ortVsCpu?.toExponential(2)} vs float64, ${r.ortVsOurs?.toExponential(2)} vs ours): time not counted`;
      else peer = `ORT GroupQueryAttention (${result.ep}) ${fmt(r.ortWallMs)} ms (${fmt(r.gflop / ((r.ortWallMs ?? 1) / 1000), 2)} GFLOP/s; err vs float64 ${r.ortVsCpu?.toExponential(1)}); ours/ORT time ${fmt(r.oursWallMs / (r.ortWallMs ?? 1), 2)}×`;
      console.log(`  seq ${r.seq}: ${ours}\n           ${peer}`);
    }
    return result;
  } finally {
    await browser.close();
    await server.close();
  }
}
