// The URL state never loses a change, and its warnings follow the current state (issue 13, items 3–4).
import { expect, test } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, watchConsole } from './fixtures.ts';

interface Shardscope {
  params: { seq: number; ranks: number };
  view: { theme: string };
  playback: { step: number; playing: boolean };
  errors: string[];
}

test('hashes set at random times during playback: 100 of 100 applied, none overwritten', async ({ page }, testInfo) => {
  test.setTimeout(600_000); // 100 parameter changes on a busy 2-core host
  const log = watchConsole(page);
  await openApp(page, './#strategy=ring&seq=32K&ranks=4&execSeq=64&autoplay=1');
  await page.selectOption('.ss-speed', '2'); // a step (and so a URL write) every 0.5 s
  const result = await page.evaluate(async () => {
    const app = () => (window as unknown as { shardscope: Shardscope }).shardscope;
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const lost: string[] = [];
    const steps = new Set<number>();
    const applyMs: number[] = [];
    for (let i = 0; i < 100; i++) {
      // Each applied hash changes the state, whose URL write is due 500 ms later (src/ui/index.ts
      // URL_WRITE_DELAY_MS); a random delay of 0–700 ms lands before, inside and after that window,
      // and playback steps add writes of their own.
      await sleep(random() * 700);
      steps.add(app().playback.step); // where playback got to since the last hash (each one restarts it at step 1)
      // Consecutive hashes always differ (the theme cycles), so a lost hash cannot pass for an applied
      // one; every fourth also changes the parameters (a new plan and scene), the rest only the view,
      // so that the test measures the URL rather than the cost of a parameter change.
      const seq = 1024 * (1 + (Math.floor(i / 4) % 7));
      const theme = ['light', 'dark', 'transparent'][i % 3] as string;
      location.hash = `#strategy=ring&seq=${seq}&ranks=4&execSeq=64&theme=${theme}&autoplay=1`;
      const applied = () => app().params.seq === seq && app().view.theme === theme;
      const t0 = performance.now();
      while (performance.now() - t0 < 10_000 && !applied()) await sleep(2);
      applyMs.push(performance.now() - t0);
      if (!applied()) lost.push(`#${i}: set seq=${seq} theme=${theme}; page has seq=${app().params.seq} theme=${app().view.theme}, hash ${location.hash}`);
    }
    // The last hash, in the app's form, is what the address bar ends with.
    const t0 = performance.now();
    while (performance.now() - t0 < 5000 && !location.hash.includes('seq=4K')) await sleep(10);
    applyMs.sort((a, b) => a - b);
    return { lost, hash: location.hash, steps: steps.size, playing: app().playback.playing, errors: app().errors, medianApplyMs: applyMs[50] };
  });
  console.log(`100 hashes applied; median time from setting a hash to the page showing it ${result.medianApplyMs?.toFixed(0)} ms`);
  expect(result.lost, result.lost.join('\n')).toEqual([]);
  expect(result.hash).toContain('seq=4K'); // the last one set: i = 99
  expect(result.hash).toContain('theme=light');
  expect(result.playing).toBe(true);
  expect(result.steps).toBeGreaterThan(1); // playback really moved between the changes
  expect(result.errors).toEqual([]);
  await saveScreenshot(page, testInfo, 'after-100-hashes');
  expectNoConsoleErrors(log);
});

test('URL warnings follow the state: fixing a field clears its warning', async ({ page }) => {
  const log = watchConsole(page);
  await openApp(page, './#ranks=abc&seq=-5&execSeq=64');
  const ranks = page.locator('.message[data-key="param-ranks"]');
  const seq = page.locator('.message[data-key="param-seq"]');
  await expect(ranks).toContainText('got "abc"');
  await expect(seq).toContainText('got "-5"');
  await page.evaluate(() => {
    location.hash = '#ranks=4';
  });
  await expect.poll(() => page.evaluate(() => (window as unknown as { shardscope: Shardscope }).shardscope.params.ranks)).toBe(4);
  await expect(ranks).toHaveCount(0);
  await expect(seq).toHaveCount(0);

  // A bad value again, then fixed through the controls rather than the URL.
  await page.evaluate(() => {
    location.hash = '#ranks=999&execSeq=64';
  });
  await expect(ranks).toContainText('got "999"');
  await page.evaluate(() => (window as unknown as { __shardscopeTest: { setParams(p: object): void } }).__shardscopeTest.setParams({ ranks: 16 }));
  await expect(ranks).toHaveCount(0);
  // A message is one sentence with one final period.
  await page.evaluate(() => {
    location.hash = '#seq=lots&theme=pink';
  });
  for (const text of await page.locator('#messages .message span').allTextContents()) {
    expect(text).not.toMatch(/\.\./);
    expect(text.trim()).toMatch(/[.!?]$/);
  }

  // Errors: the ResizeObserver loop notice is benign (no banner); a real error shows once, as one sentence.
  await page.evaluate(() => {
    window.dispatchEvent(new ErrorEvent('error', { message: 'ResizeObserver loop completed with undelivered notifications.', cancelable: true }));
    for (let i = 0; i < 3; i++) window.dispatchEvent(new ErrorEvent('error', { message: 'Uncaught Error: something broke', cancelable: true }));
  });
  const errors = page.locator('#messages .message-error span');
  await expect(errors).toHaveCount(1);
  await expect(errors).toHaveText('Unexpected error: Uncaught Error: something broke.');
  expect(await page.locator('#messages .message', { hasText: 'ResizeObserver' }).count()).toBe(0);
  expectNoConsoleErrors(log);
});
