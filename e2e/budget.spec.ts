// The execution budget: a link asking for 16K tokens × 32 heads × 512 at 64 ranks (gigabytes if run
// as asked) is priced before any allocation and clamped; the page names the clamped fields
// (requested → used), the backward pass when the budget drops it, the executed size and the cap,
// states the budget with its GPU-time rates, and the page's JS heap stays under a stated bound.
// After the run, window.shardscope.execution.budget carries the rates measured on this adapter.
import { expect, test } from '@playwright/test';
import { openApp } from './fixtures.ts';

/** The page's JS heap (main thread) must stay under this; the unclamped run needed 1.63 GB. */
const HEAP_BOUND_BYTES = 200 * 2 ** 20;

interface Budget {
  measured: boolean;
  flopPerMs: number;
  msPerDispatch: number;
  timedParts: number;
  softwareAdapter: boolean;
  maxGpuMs: number;
  maxDispatches: number;
}
interface Execution {
  executed: { execSeq: number; heads: number; headDim: number; ranks: number; backward: boolean; estimatedGpuMs: number | null; price: { dispatches: number } | null };
  clamps: { field: string; requested: number; used: number; over: string }[];
  budget: Budget;
  budgetText: string;
  running: boolean;
}
interface Verified {
  seqLen: number;
  maxAbsError: number;
  gpuMs: number | null;
  backward: { gpuMs: number | null; unshardedGpuMs: number | null } | null;
  backwardError: string | null;
}

const execution = (page: import('@playwright/test').Page): Promise<Execution> => page.evaluate(() => JSON.parse(JSON.stringify((window.shardscope as { execution: unknown }).execution)) as Execution);

test('a hostile execSeq link is clamped with a message, the heap stays bounded, and the adapter is measured', async ({ page }) => {
  test.setTimeout(600_000);
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204, body: '' }));
  await openApp(page, './#strategy=zigzag&ranks=64&heads=32&kvHeads=8&headDim=512&execSeq=16384');
  // The clamp is announced as soon as the worker has priced the run (before the run itself).
  const message = page.locator('#messages .message[data-key="exec-budget"]');
  await expect(message).toBeVisible({ timeout: 240_000 });
  const text = (await message.textContent()) ?? '';
  const ex = await execution(page);
  console.log(`[budget] message: ${text}`);
  await test.info().attach('clamp message', { body: await message.screenshot(), contentType: 'image/png' });
  expect(ex.clamps.map((c) => c.field)).toContain('execSeq');
  expect(ex.executed.execSeq).toBeLessThan(16384);
  // One sentence: each field requested → used, the executed size, and the cap that forced it.
  expect(text).toContain(`execSeq 16384 → ${ex.executed.execSeq}`);
  expect(text).toContain(`on ${ex.executed.ranks} ranks × ${ex.executed.execSeq} tokens × ${ex.executed.heads} heads × ${ex.executed.headDim}.`);
  expect(ex.clamps[0]?.over).toMatch(/^GPU memory .* ≥ /); // 16K × 32 heads × 512 in f32
  expect(text).toContain(`(${ex.clamps[0]?.over})`);
  if (ex.budget.softwareAdapter) {
    // SwiftShader: 4,160 forward and 12,224 backward dispatches at ~1 ms each cannot fit 10 s with the backward.
    expect(ex.clamps.map((c) => c.field)).toContain('backward');
    expect(ex.executed.backward).toBe(false);
    const dropped = ex.clamps.find((c) => c.field === 'backward');
    expect(dropped?.over).toMatch(/^estimated GPU time .* > 10\.0 s on this adapter$/);
    expect(text).toContain(`the forward pass only (${dropped?.over})`);
  }
  expect(ex.executed.estimatedGpuMs).toBeLessThanOrEqual(ex.budget.maxGpuMs);
  expect(ex.executed.price?.dispatches).toBeLessThanOrEqual(ex.budget.maxDispatches);
  await expect(page.locator('#ro-verify-budget')).toContainText('GPU budget per run: 10.0 s of estimated GPU time and 20,000 dispatches');
  await expect(page.locator('#ro-verify-budget')).toHaveAttribute('data-clamped', 'true');

  // Heap: performance.memory (Chromium) and the CDP metric agree that nothing of gigabyte size was made.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const sample = async (): Promise<number> => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const used = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
    const pm = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
    return Math.max(used, pm);
  };
  let peak = await sample();
  // Until the clamped run has a result (or an error), sampling the heap every second.
  for (let i = 0; i < 400; i++) {
    peak = Math.max(peak, await sample());
    const done = await page.evaluate(() => {
      const s = window.shardscope as { verification?: unknown; verificationError?: unknown };
      return s.verification != null || s.verificationError != null;
    });
    if (done) break;
    await page.waitForTimeout(1000);
  }
  test.info().annotations.push({ type: 'heap peak', description: `${(peak / 2 ** 20).toFixed(1)} MiB` });
  expect(peak).toBeLessThan(HEAP_BOUND_BYTES);
  const v = await page.evaluate(() => (window.shardscope as { verification: Verified | null }).verification);
  expect(v?.seqLen).toBe(ex.executed.execSeq);
  expect(v?.maxAbsError).toBeLessThan(1e-3);
  if (!ex.executed.backward) expect(v?.backwardError).toContain('the execution budget dropped the backward check (estimated GPU time');

  // The run measured the adapter: the budget now carries fitted rates, positive and finite.
  const after = await execution(page);
  expect(after.budget.measured).toBe(true);
  expect(after.budget.timedParts).toBeGreaterThanOrEqual(2);
  for (const rate of [after.budget.flopPerMs, after.budget.msPerDispatch]) {
    expect(Number.isFinite(rate)).toBe(true);
    expect(rate).toBeGreaterThan(0);
  }
  expect(after.budgetText).toMatch(/GFLOP\/s and .* per dispatch measured on this adapter \(fitted to \d+ timed parts of completed runs\)/);
  await expect(page.locator('#ro-verify-budget')).toContainText('measured on this adapter');
  const gpuMs = (v?.gpuMs ?? 0) + (v?.backward?.gpuMs ?? 0) + (v?.backward?.unshardedGpuMs ?? 0); // the unsharded forward's is not exposed
  const model = `fitted ${((after.budget.flopPerMs * 1000) / 1e9).toFixed(2)} GFLOP/s and ${after.budget.msPerDispatch.toFixed(2)} ms per dispatch over ${after.budget.timedParts} parts; this run estimated ${((ex.executed.estimatedGpuMs ?? 0) / 1000).toFixed(1)} s at the assumed rates, GPU time ${(gpuMs / 1000).toFixed(1)} s (timestamps)`;
  test.info().annotations.push({ type: 'GPU-time model', description: model });
  console.log(`[budget] ${model}; readout: ${await page.locator('#ro-verify-budget').textContent()}`);

  // A size that fits: the message goes away and the backward runs.
  await page.evaluate(() => {
    location.hash = '#strategy=ring&ranks=4&heads=2&kvHeads=2&headDim=16&execSeq=64';
  });
  await page.waitForFunction(() => {
    const s = window.shardscope as { verification?: { strategy: string; seqLen: number } | null; execution: { running: boolean } };
    return s.verification?.strategy === 'ring' && s.verification.seqLen === 64 && !s.execution.running;
  }, undefined, { timeout: 120_000 });
  await expect(message).toBeHidden();
  const small = await execution(page);
  expect(small.clamps).toEqual([]);
  expect(small.executed.backward).toBe(true);
  const sv = await page.evaluate(() => (window.shardscope as { verification: Verified | null }).verification);
  expect(sv?.backwardError ?? null).toBeNull();
  expect(sv?.backward).not.toBeNull();
});
