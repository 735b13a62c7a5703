// The execution budget: a link asking for 16K tokens × 32 heads × 512 at 64 ranks (gigabytes if run
// as asked) is priced before any allocation and clamped; the page names the clamped fields and the
// executed size actually used, states the budget, and the page's JS heap stays under a stated bound.
import { expect, test } from '@playwright/test';
import { openApp } from './fixtures.ts';

/** The page's JS heap (main thread) must stay under this; the unclamped run needed 1.63 GB. */
const HEAP_BOUND_BYTES = 200 * 2 ** 20;

test('a hostile execSeq link is clamped with a message, and the heap stays bounded', async ({ page }) => {
  test.setTimeout(600_000);
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204, body: '' }));
  await openApp(page, './#strategy=zigzag&ranks=64&heads=32&kvHeads=8&headDim=512&execSeq=16384');
  // The clamp is announced as soon as the worker has priced the run (before the run itself).
  const message = page.locator('#messages .message[data-key="exec-budget"]');
  await expect(message).toBeVisible({ timeout: 240_000 });
  const text = (await message.textContent()) ?? '';
  expect(text).toContain('execSeq=16384');
  const execution = await page.evaluate(() => (window.shardscope as { execution: { executed: { execSeq: number; heads: number; headDim: number }; clamps: { field: string; requested: number; used: number }[]; budgetText: string } }).execution);
  expect(execution.clamps.map((c) => c.field)).toContain('execSeq');
  expect(execution.executed.execSeq).toBeLessThan(16384);
  // The message names the executed size actually used.
  expect(text).toContain(`execSeq=${execution.executed.execSeq}`);
  expect(text).toContain(`${execution.executed.execSeq} tokens × ${execution.executed.heads} heads × ${execution.executed.headDim}`);
  await expect(page.locator('#ro-verify-budget')).toContainText('GPU budget per run');
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
  const v = await page.evaluate(() => (window.shardscope as { verification: { seqLen: number; maxAbsError: number } | null }).verification);
  expect(v?.seqLen).toBe(execution.executed.execSeq);
  expect(v?.maxAbsError).toBeLessThan(1e-3);
});
