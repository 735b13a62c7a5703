// The scene's backward steps show each rank's measured gradient norms: the labels equal
// window.shardscope.gradientNorms of the verification run (√Σ‖b‖² over a rank's buffers of a tensor).
import { expect, test, type Page } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, watchConsole } from './fixtures.ts';

interface Norms {
  step: number;
  pieces: { rank: number; tensor: string; norm: number }[];
}

async function readouts(page: Page): Promise<{ title: string; text: string }[]> {
  return page.locator('.ss-grad:visible').evaluateAll((els) => els.map((e) => ({ title: e.getAttribute('title') ?? '', text: e.textContent ?? '' })));
}

test('ring at 4 ranks: a backward step shows each rank\'s dK/dV/dQ norms from the verification run', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  // Step 8 of 11 (1-based in the URL): the second backward step, where partial sums have travelled one hop.
  await openApp(page, './#strategy=ring&ranks=4&execSeq=64&step=8');
  await page.waitForFunction(() => {
    const s = window.shardscope as { verification?: { strategy: string; ranks: number; backward: unknown } | null };
    return s.verification?.strategy === 'ring' && s.verification.ranks === 4 && s.verification.backward != null;
  }, undefined, { timeout: 90_000 });
  const { step, norms, backend, seqLen } = await page.evaluate(() => {
    const s = window.shardscope as { playback: { step: number }; gradientNorms: unknown; verification: { backend: string; seqLen: number } };
    return { step: s.playback.step, norms: s.gradientNorms as Norms[], backend: s.verification.backend, seqLen: s.verification.seqLen };
  });
  expect(step).toBe(7);
  const at = norms.find((n) => n.step === step);
  expect(at).toBeTruthy();
  const expected = (rank: number, tensor: string): number => Math.sqrt((at?.pieces ?? []).filter((p) => p.rank === rank && p.tensor === tensor).reduce((a, p) => a + p.norm * p.norm, 0));

  await expect(page.locator('.ss-grad:visible')).toHaveCount(4);
  const seen = new Set<number>();
  for (const { title, text } of await readouts(page)) {
    const rank = Number(/^Rank (\d+)/.exec(title)?.[1]);
    seen.add(rank);
    const shown = [...text.matchAll(/(dK|dV|dQ) ([-+0-9.e]+)/g)];
    expect(shown.map((m) => m[1])).toEqual(expect.arrayContaining(['dK', 'dV']));
    for (const [, tensor, value] of shown) {
      const want = expected(rank, tensor as string);
      // Shown to 3 or 4 significant digits.
      expect(Math.abs(Number(value) - want), `rank ${rank} ${tensor}: ${value} vs ${want}`).toBeLessThanOrEqual(5e-3 * want + 1e-9);
    }
  }
  expect(seen).toEqual(new Set([0, 1, 2, 3]));
  // Partial sums accumulate: the last rank's dK grows from the first backward step to this one.
  const first = norms.find((n) => n.step === step - 1);
  const dk = (n: Norms | undefined, r: number): number => Math.sqrt((n?.pieces ?? []).filter((p) => p.rank === r && p.tensor === 'dK').reduce((a, p) => a + p.norm * p.norm, 0));
  expect(dk(at, 3)).toBeGreaterThan(dk(first, 3));
  await expect(page.locator('.ss-grad-source:visible')).toContainText(backend === 'cpu' ? 'CPU' : 'GPU');
  await expect(page.locator('.ss-grad-source:visible')).toContainText(`${seqLen} tokens`); // the executed size (a software adapter's budget may clamp execSeq=64)
  await saveScreenshot(page, testInfo, 'gradients-1280');

  // A forward step shows none.
  await page.keyboard.press('Home');
  await expect.poll(() => page.evaluate(() => (window.shardscope as { playback: { step: number } }).playback.step)).toBe(0);
  await expect(page.locator('.ss-grad:visible')).toHaveCount(0);
  expectNoConsoleErrors(log);
});
