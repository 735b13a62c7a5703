// `npm run bench -- gpu`: figures, never a pass/fail timing test.
// On the available adapter (Dawn in node: a real GPU when present, else SwiftShader from Chromium),
// heads 8, head dim 64, seq 1K / 4K / 16K as limits and the time budget allow:
//   - the unsharded flash-style kernel (shaders/block_attention.wgsl, one dispatch) against the naive
//     one-thread-per-query kernel (shaders/naive_attention.wgsl): time and GFLOP/s, causal FLOPs
//     counted as 2·s²·d·heads (half of the non-causal 4·s²·d·heads); goal: tiled ≥ 3× naive;
//   - each strategy's sharded run at P = 8 (one dispatch per rank per step plus the copies its
//     collectives imply) as a ratio to the unsharded run; goal: ≤ 1.3×.
// Every output is checked against the flash kernel's before its time is reported.
//   - in Chromium (WebGPU on the same SwiftShader), our kernel against ONNX Runtime Web's WebGPU
//     GroupQueryAttention, whose output is checked before its time counts (scripts/bench/browser.ts;
//     ORT is installed apart from the app: npm install --prefix scripts/bench/ort).
//     SHARDSCOPE_BENCH_BROWSER=0 skips it; SHARDSCOPE_BENCH_BROWSER_SEQS picks its sizes (256,1024).
//   - the backward pass (shaders/attention_backward.wgsl): the unsharded tiled backward (one dispatch
//     after the D preprocessing) against the naive one-thread-per-row backward, GFLOP/s with causal
//     backward FLOPs counted as 2.5 × the forward's (5·s²·d·heads: FlashAttention-2 §3.1 counts 5 matrix
//     products in the backward against 2 in the forward; our kernel recomputes P and dP in its dQ
//     workgroups, 7 products, so its own work is 3.5×); and each strategy's sharded backward at P = 8 as a
//     ratio to the unsharded backward. Gradients are checked (≤ 1e-4 of the largest) before times count.
//     SHARDSCOPE_BENCH_BACKWARD_SEQS picks its sizes (default 1024).
// Times are GPU timestamps (timestamp-query) when the adapter has them, else wall time.
// Env: SHARDSCOPE_BENCH_SEQS=1024,4096 picks sizes; SHARDSCOPE_BENCH_BUDGET_S (default 240) skips a
// run whose time, extrapolated from the previous size (∝ s²), would exceed it; SHARDSCOPE_BENCH_REPEAT
// (default 3 up to 1K tokens, else 1) runs each comparison as that many back-to-back pairs and reports
// the median pair ratio, since on a shared machine every figure is contended (the load average is printed).

import { cpus, loadavg } from 'node:os';
import { DEFAULT_PARAMS, STRATEGY_IDS, type Params } from '../../src/model/params.ts';
import { buildSchedule } from '../../src/model/strategies/index.ts';
import { buildExecPlan } from '../../src/model/execution.ts';
import { generateInputs } from '../../src/model/random.ts';
import { compare } from '../../src/model/reference.ts';
import { gradientError, outputGradient, type AttentionGradients } from '../../src/model/referenceBackward.ts';
import { createNodeGpu } from '../../src/gpu/node.ts';
import { loadShaderSources } from '../../src/gpu/shaders.node.ts';
import { GpuLimitError, kernelsFor } from '../../src/gpu/kernels.ts';
import { AttentionRunner } from '../../src/gpu/AttentionRunner.ts';
import { planWork, unshardedWork } from '../../src/gpu/tileWork.ts';
import { runBrowserBench } from './browser.ts';

const HEADS = 8;
const HEAD_DIM = 64;
const RANKS = 8;
const TOLERANCE = 1e-5;

const flops = (s: number): number => 2 * s * s * HEAD_DIM * HEADS;
const gflops = (s: number, ms: number): string => (flops(s) / (ms / 1000) / 1e9).toFixed(2);
const pad = (x: string, n: number): string => x.padStart(n);

export async function run(): Promise<void> {
  const node = await createNodeGpu();
  if (!node.init.ok) {
    console.log(`no WebGPU adapter (${node.init.reason} Tried ${node.vulkan.note}); nothing to measure.`);
    return;
  }
  const { device, adapterName } = node.init;
  const runner = new AttentionRunner(device, kernelsFor(device, loadShaderSources()));
  const timing = device.features.has('timestamp-query') ? 'GPU timestamps' : 'wall time (no timestamp-query)';
  console.log(`adapter: ${adapterName} — via ${node.vulkan.note}`);
  console.log(`host: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' / ')} (shared machine: figures are contended)`);
  console.log(`heads ${HEADS}, head dim ${HEAD_DIM}, fp32, causal FLOPs = 2·s²·d·heads, times from ${timing}`);
  const tiles = runner.kernels.block(HEAD_DIM).tiles;
  console.log(`flash tiles: ${tiles.wgQ} query rows per workgroup, ${tiles.bk} keys per K/V tile, ${tiles.workgroupBytes} B workgroup memory`);

  const budgetMs = Number(process.env.SHARDSCOPE_BENCH_BUDGET_S ?? 240) * 1000;
  const seqs = (process.env.SHARDSCOPE_BENCH_SEQS ?? '1024,4096,16384').split(',').map(Number).filter((n) => n > 0);
  const maxBinding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);

  // Compile the pipelines outside the measurements.
  const warm = generateInputs(1, 1, 1, 8, HEAD_DIM);
  await runner.runUnsharded(warm);
  await runner.runUnsharded(warm, { naive: true });

  const time = (r: { gpuMs: number | null; wallMs: number }): number => r.gpuMs ?? r.wallMs;

  // Dispatch latency probe: ring at P = 8 over 64 tokens does almost no arithmetic, so its time is the
  // cost of its dispatches and copies on this adapter and host (on SwiftShader under load, each
  // dispatch waits for worker threads the OS may not schedule promptly).
  {
    const s = 64;
    const probeInputs = generateInputs(3, HEADS, HEADS, s, HEAD_DIM);
    const params: Params = { ...DEFAULT_PARAMS, strategy: 'ring', ranks: RANKS, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM, seq: s, execSeq: s, model: 'custom' };
    const plan = buildExecPlan(buildSchedule(params), params);
    const u = await runner.runUnsharded(probeInputs);
    const r = await runner.run(plan, probeInputs);
    console.log(
      `dispatch latency probe (ring, P = ${RANKS}, ${s} tokens): ${r.dispatches} dispatches + ${r.copies} copies take ${time(r).toFixed(1)} ms ` +
        `against ${time(u).toFixed(1)} ms for the single unsharded dispatch: ~${((time(r) - time(u)) / r.dispatches).toFixed(2)} ms per dispatch here`,
    );
  }

  const estimate = new Map<string, { s: number; ms: number }>();
  const predicted = (kind: string, s: number): number => {
    const e = estimate.get(kind);
    return e ? (e.ms * (s * s)) / (e.s * e.s) : 0;
  };
  const repeatsFor = (s: number): number => Number(process.env.SHARDSCOPE_BENCH_REPEAT ?? (s <= 1024 ? 3 : 1));
  const median = (xs: number[]): number => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 ? (a[(a.length - 1) / 2] as number) : ((a[a.length / 2 - 1] as number) + (a[a.length / 2] as number)) / 2;
  };
  /**
   * Runs the reference and the candidate back to back `n` times. A ratio taken inside each pair
   * cancels most of the drift in machine load between pairs; the median of the pair ratios is reported.
   */
  async function pairs<A extends { gpuMs: number | null; wallMs: number }, B extends { gpuMs: number | null; wallMs: number }>(
    n: number,
    reference: () => Promise<A>,
    candidate: () => Promise<B>,
  ): Promise<{ ref: A; cand: B; refMs: number; candMs: number; ratio: number }> {
    const ratios: number[] = [];
    let ref = await reference();
    let cand = await candidate();
    let refMs = time(ref);
    let candMs = time(cand);
    ratios.push(candMs / refMs);
    for (let i = 1; i < n; i++) {
      const r = await reference();
      const c = await candidate();
      ratios.push(time(c) / time(r));
      if (time(r) < refMs) [ref, refMs] = [r, time(r)];
      if (time(c) < candMs) [cand, candMs] = [c, time(c)];
    }
    return { ref, cand, refMs, candMs, ratio: median(ratios) };
  }

  const summary: string[] = [];
  for (const s of seqs) {
    if (HEADS * s * HEAD_DIM * 4 > maxBinding) {
      console.log(`\nseq ${s}: skipped, one [${HEADS}, ${s}, ${HEAD_DIM}] f32 tensor exceeds the adapter's storage-buffer limit.`);
      continue;
    }
    if (predicted('flash', s) > budgetMs) {
      console.log(`\nseq ${s}: skipped, the flash kernel would take ~${(predicted('flash', s) / 1000).toFixed(0)} s here (budget ${budgetMs / 1000} s; SHARDSCOPE_BENCH_BUDGET_S).`);
      continue;
    }
    const reps = repeatsFor(s);
    console.log(`\nseq ${s} (${(flops(s) / 1e9).toFixed(2)} GFLOP causal; ${reps} back-to-back pairs, fastest time and median ratio; load average now ${loadavg()[0]?.toFixed(1)}):`);
    const inputs = generateInputs(1, HEADS, HEADS, s, HEAD_DIM);
    let flash = await runner.runUnsharded(inputs);
    let flashMs = time(flash);
    if (predicted('naive', s) > budgetMs) {
      console.log(`  flash-style (1 dispatch)  ${pad(flashMs.toFixed(1), 10)} ms  ${pad(gflops(s, flashMs), 7)} GFLOP/s`);
      console.log(`  naive: skipped, ~${(predicted('naive', s) / 1000).toFixed(0)} s predicted (budget ${budgetMs / 1000} s)`);
    } else {
      const p = await pairs(reps, () => runner.runUnsharded(inputs), () => runner.runUnsharded(inputs, { naive: true }));
      if (p.refMs < flashMs) [flash, flashMs] = [p.ref, p.refMs];
      const err = compare(p.cand.o, flash.o).maxAbsError;
      estimate.set('naive', { s, ms: p.candMs });
      console.log(`  flash-style (1 dispatch)  ${pad(flashMs.toFixed(1), 10)} ms  ${pad(gflops(s, flashMs), 7)} GFLOP/s`);
      console.log(`  naive (thread per query)  ${pad(p.candMs.toFixed(1), 10)} ms  ${pad(gflops(s, p.candMs), 7)} GFLOP/s   output vs flash ${err.toExponential(1)}${err > TOLERANCE ? '  MISMATCH' : ''}`);
      console.log(`  tiled / naive speed: ${p.ratio.toFixed(2)}× (median of ${reps} pairs)  (goal ≥ 3×: ${p.ratio >= 3 ? 'met' : 'NOT met'})`);
      summary.push(`seq ${s}: tiled ${p.ratio.toFixed(2)}× naive (${p.ratio >= 3 ? 'met' : 'not met'})`);
    }
    estimate.set('flash', { s, ms: flashMs });

    if (predicted('flash', s) * STRATEGY_IDS.length > budgetMs * 4 && s > (seqs[0] ?? 0)) {
      console.log(`  sharded runs: skipped at this size (7 × ~${(flashMs / 1000).toFixed(0)} s over the budget)`);
      continue;
    }
    console.log(`  sharded at P = ${RANKS} (ratio = sharded / unsharded GPU time, median of back-to-back pairs; goal ≤ 1.3×; "work" = tile work / unsharded, load-independent):`);
    const fullWork = unshardedWork(s, HEADS, tiles).pairs;
    for (const strategy of STRATEGY_IDS) {
      const params: Params = { ...DEFAULT_PARAMS, strategy, ranks: RANKS, ulysses: 2, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM, seq: s, execSeq: s, model: 'custom' };
      const schedule = buildSchedule(params);
      if (!schedule.valid) {
        console.log(`    ${strategy.padEnd(12)} cannot run: ${schedule.reason}`);
        continue;
      }
      try {
        const plan = buildExecPlan(schedule, params);
        const p = await pairs(reps, () => runner.runUnsharded(inputs), () => runner.run(plan, inputs));
        const r = p.cand;
        const ms = p.candMs;
        const err = compare(r.o, flash.o).maxAbsError;
        const ratio = p.ratio;
        const work = planWork(plan, tiles).pairs / fullWork;
        const line = `${strategy.padEnd(12)} ${pad(ms.toFixed(1), 10)} ms  ${pad(ratio.toFixed(2), 5)}×  work ${work.toFixed(2)}×  ${pad(String(r.dispatches), 3)} dispatches ${pad(String(r.copies), 5)} copies  err ${err.toExponential(1)}${err > TOLERANCE ? ' MISMATCH' : ''}  ${ratio <= 1.3 ? 'met' : 'NOT met'}`;
        console.log(`    ${line}`);
        summary.push(`seq ${s} ${strategy}: ${ratio.toFixed(2)}× unsharded time, ${work.toFixed(2)}× its tile work (${ratio <= 1.3 ? 'met' : 'not met'})`);
      } catch (error) {
        console.log(`    ${strategy.padEnd(12)} ${error instanceof GpuLimitError ? 'over the limits' : 'failed'}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  await benchBackward(runner, summary, budgetMs);
  console.log(`\nsummary (${adapterName}):\n  ${summary.join('\n  ')}`);
  device.destroy();

  // The peer in the browser: ONNX Runtime Web's WebGPU attention, output-checked before its time counts.
  if (process.env.SHARDSCOPE_BENCH_BROWSER !== '0') {
    const browserSeqs = (process.env.SHARDSCOPE_BENCH_BROWSER_SEQS ?? '256,1024').split(',').map(Number).filter((n) => n > 0);
    const result = await runBrowserBench(browserSeqs, HEADS, HEAD_DIM, 1, 'webgpu');
    if (result && !result.error && result.results.some((r) => !r.ortOk && !r.ortError)) {
      console.log('  control: the same ONNX model on ORT\'s CPU (wasm) kernels, to show the model itself is right:');
      await runBrowserBench(browserSeqs.slice(0, 1), HEADS, HEAD_DIM, 1, 'wasm');
    }
  }
}

/** Causal backward FLOPs: 2.5 × the forward's 2·s²·d·heads (FlashAttention-2 §3.1: 5 of the 7 products). */
const backwardFlops = (s: number): number => 2.5 * flops(s);
const BACKWARD_TOLERANCE = 1e-4;

/** Largest relative gradient difference of a against b over dQ, dK, dV. */
function gradientMismatch(a: AttentionGradients, b: AttentionGradients, s: number): number {
  return Math.max(...(['dq', 'dk', 'dv'] as const).map((t) => gradientError(a[t], b[t], { seq: s, headDim: HEAD_DIM }).relative));
}

async function benchBackward(runner: AttentionRunner, summary: string[], budgetMs: number): Promise<void> {
  const time = (r: { gpuMs: number | null; wallMs: number }): number => r.gpuMs ?? r.wallMs;
  const seqs = (process.env.SHARDSCOPE_BENCH_BACKWARD_SEQS ?? '1024').split(',').map(Number).filter((n) => n > 0);
  const tiles = runner.kernels.backward(HEAD_DIM).tiles;
  console.log(`\nbackward (FLOPs = 2.5 × forward = 5·s²·d·heads): ${tiles.wg} rows per workgroup, ${tiles.bt} rows per streamed tile, ${tiles.workgroupBytes} B workgroup memory`);
  let lastNaive: { s: number; ms: number } | null = null;
  for (const s of seqs) {
    const inputs = generateInputs(1, HEADS, HEADS, s, HEAD_DIM);
    const dO = outputGradient(1, HEADS, s, HEAD_DIM);
    const forward = await runner.runUnsharded(inputs, { timestamps: false });
    const flash = await runner.runUnshardedBackward(inputs, dO, { forward });
    const flashMs = time(flash);
    const g = (ms: number): string => (backwardFlops(s) / (ms / 1000) / 1e9).toFixed(2);
    console.log(`\nbackward seq ${s} (${(backwardFlops(s) / 1e9).toFixed(2)} GFLOP; load average now ${loadavg()[0]?.toFixed(1)}):`);
    console.log(`  tiled backward (preprocess + 1 dispatch)  ${pad(flashMs.toFixed(1), 10)} ms  ${pad(g(flashMs), 7)} GFLOP/s`);
    const predictedNaive = lastNaive ? (lastNaive.ms * s * s) / (lastNaive.s * lastNaive.s) : 0;
    if (predictedNaive > budgetMs) console.log(`  naive backward: skipped, ~${(predictedNaive / 1000).toFixed(0)} s predicted (budget ${budgetMs / 1000} s)`);
    else {
      const naive = await runner.runUnshardedBackward(inputs, dO, { naive: true, forward });
      const ms = time(naive);
      lastNaive = { s, ms };
      const err = gradientMismatch(naive, flash, s);
      const ok = err <= BACKWARD_TOLERANCE;
      console.log(`  naive backward (thread per row)          ${pad(ms.toFixed(1), 10)} ms  ${pad(g(ms), 7)} GFLOP/s   gradients vs tiled ${err.toExponential(1)} of the largest${ok ? '' : '  MISMATCH: time not counted'}`);
      if (ok) {
        console.log(`  tiled / naive backward speed: ${(ms / flashMs).toFixed(2)}×`);
        summary.push(`backward seq ${s}: tiled ${g(flashMs)} GFLOP/s, ${(ms / flashMs).toFixed(2)}× naive`);
      }
    }
    console.log(`  sharded backward at P = ${RANKS} (ratio = sharded / unsharded backward GPU time; gradients checked against the unsharded ones first):`);
    for (const strategy of STRATEGY_IDS) {
      const params: Params = { ...DEFAULT_PARAMS, strategy, ranks: RANKS, ulysses: 2, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM, seq: s, execSeq: s, model: 'custom' };
      const schedule = buildSchedule(params);
      if (!schedule.valid) {
        console.log(`    ${strategy.padEnd(12)} cannot run: ${schedule.reason}`);
        continue;
      }
      try {
        const plan = buildExecPlan(schedule, params);
        const r = await runner.run(plan, inputs, { outputGrad: dO });
        const b = r.backward;
        if (!b) throw new Error(plan.backwardError ?? 'no backward');
        const err = gradientMismatch(b, flash, s);
        if (err > BACKWARD_TOLERANCE) {
          console.log(`    ${strategy.padEnd(12)} MISMATCH: gradients ${err.toExponential(1)} of the largest away from the unsharded ones; time not counted`);
          continue;
        }
        const ms = time(b);
        const ratio = ms / flashMs;
        console.log(`    ${strategy.padEnd(12)} ${pad(ms.toFixed(1), 10)} ms  ${pad(ratio.toFixed(2), 5)}×  ${pad(String(b.dispatches), 4)} dispatches (${b.reductions} reductions) ${pad(String(b.copies), 5)} copies  err ${err.toExponential(1)}`);
        summary.push(`backward seq ${s} ${strategy}: ${ratio.toFixed(2)}× unsharded backward time`);
      } catch (error) {
        console.log(`    ${strategy.padEnd(12)} ${error instanceof GpuLimitError ? 'over the limits' : 'failed'}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
