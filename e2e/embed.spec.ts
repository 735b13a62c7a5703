// Embedding in slides (issue 5): ?embed gives a chrome-free view, the "Copy embed code" snippet
// works inside a host page, themes, autoplay/loop, keyboard when focused, any iframe size.
import { expect, test, type Frame, type Page } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, state, watchConsole } from './fixtures.ts';

interface Shardscope {
  params: Record<string, unknown>;
  memoryPerRank: number[];
  view: { step: number; embed: boolean; theme: string; autoplay: boolean; loop: boolean };
  playback: { step: number; stepCount: number; playing: boolean };
  embedCode: string;
  ready: boolean;
}

const APP = process.env.SHARDSCOPE_APP ?? './';

async function frameState(frame: Frame): Promise<Shardscope> {
  return frame.evaluate(() => JSON.parse(JSON.stringify(window.shardscope)) as Shardscope);
}

async function waitReady(frame: Frame): Promise<void> {
  await frame.waitForFunction(() => (window as unknown as { shardscope?: { ready?: boolean } }).shardscope?.ready === true, undefined, { timeout: 90_000 });
}

test('?embed hides the panel and the masthead and keeps the scene and a compact memory readout', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await page.setViewportSize({ width: 960, height: 540 });
  await openApp(page, `${APP}?embed#strategy=zigzag&seq=256K&ranks=8&execSeq=64`);
  const s = await state<Shardscope>(page);
  expect(s.view.embed).toBe(true);
  await expect(page.locator('#masthead')).toBeHidden();
  await expect(page.locator('#panel')).toBeHidden();
  await expect(page.locator('#ui-gui')).toHaveCount(0);
  await expect(page.locator('#scene-canvas')).toBeVisible();
  await expect(page.locator('#ro-mem-canvas')).toBeVisible();
  await expect(page.locator('#ro-mem-peak')).not.toHaveText('');
  for (const id of ['#ro-comm', '#ro-timeline', '#ro-balance', '#ro-verification']) await expect(page.locator(id)).toBeHidden();
  await expect(page.locator('.message[data-key="hint"]')).toHaveCount(0);
  await expect(page.locator('#ui-open-full')).toBeVisible();
  // Fits the 16:9 viewport: nothing scrolls.
  const fits = await page.evaluate(() => document.documentElement.scrollHeight <= innerHeight && document.documentElement.scrollWidth <= innerWidth);
  expect(fits).toBe(true);
  await saveScreenshot(page, testInfo, 'embed-960x540');
  expectNoConsoleErrors(log);
});

test('embed=1 in the hash, a collapsed panel on request, themes, autoplay and loop', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await page.setViewportSize({ width: 1280, height: 720 });
  await openApp(page, `${APP}#strategy=ring&seq=64K&ranks=4&embed=1&panel=1&theme=light&autoplay=1&loop=0&execSeq=64`);
  const s = await state<Shardscope>(page);
  expect(s.view).toMatchObject({ embed: true, theme: 'light', autoplay: true, loop: false });
  await expect(page.locator('#ui-gui')).toBeVisible();
  await expect(page.locator('#ui-gui')).toHaveClass(/lil-closed/);
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
  await expect.poll(async () => (await state<Shardscope>(page)).playback.playing || (await state<Shardscope>(page)).playback.step > 0).toBe(true);
  await saveScreenshot(page, testInfo, 'embed-light-panel');

  await page.evaluate(() => {
    location.hash = '#strategy=ring&seq=64K&ranks=4&embed=1&theme=transparent&execSeq=64';
  });
  await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('transparent');
  expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgba(0, 0, 0, 0)');
  expectNoConsoleErrors(log);
});

/** A host page (a slide) on the same server that holds only the snippet. */
async function hostPage(page: Page, snippet: string, width: number): Promise<Frame> {
  const host = new URL('/__embed-host.html', page.url()).toString();
  await page.route(host, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><html><head><title>slide</title><link rel="icon" href="data:,"></head><body style="margin:0;background:#444"><div style="width:${width}px;padding:20px">${snippet}</div></body></html>`,
    }),
  );
  await page.goto(host);
  const handle = await page.waitForSelector('iframe');
  const frame = await handle.contentFrame();
  if (!frame) throw new Error('the snippet made no iframe');
  await waitReady(frame);
  return frame;
}

test('the "Copy embed code" snippet works inside a host page, at 16:9 and smaller', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=striped&seq=512K&ranks=16&theme=dark&execSeq=64&step=4`);
  const app = await state<Shardscope>(page);
  const snippet = app.embedCode;
  expect(snippet).toMatch(/^<iframe src="[^"]*\?embed=1#strategy=striped&amp;seq=512K&amp;ranks=16[^"]*"/);

  const frame = await hostPage(page, snippet, 960);
  const inner = await frameState(frame);
  expect(inner.view.embed).toBe(true);
  expect(inner.params).toEqual(app.params);
  expect(inner.playback.step).toBe(3);
  expect(inner.memoryPerRank).toEqual(app.memoryPerRank);
  expect(await frame.locator('#panel').isHidden()).toBe(true);
  await expect(frame.locator('#ro-mem-canvas')).toBeVisible();
  const box = await page.locator('iframe').boundingBox();
  expect(box && Math.abs(box.width / box.height - 16 / 9)).toBeLessThan(0.02);
  await saveScreenshot(page, testInfo, 'host-page-960');

  // Keyboard control when the embed has focus: arrows step, space plays.
  await page.locator('iframe').click({ position: { x: 200, y: 120 } });
  const before = (await frameState(frame)).playback.step;
  await page.keyboard.press('ArrowRight');
  await expect.poll(async () => (await frameState(frame)).playback.step).toBe(before + 1);
  await page.keyboard.press('Home');
  await expect.poll(async () => (await frameState(frame)).playback.step).toBe(0);

  // A small iframe (a slide thumbnail) still fits without scrollbars.
  const small = await hostPage(page, snippet, 480);
  const fits = await small.evaluate(() => document.documentElement.scrollHeight <= innerHeight && document.documentElement.scrollWidth <= innerWidth);
  expect(fits).toBe(true);
  await saveScreenshot(page, testInfo, 'host-page-480');
  expectNoConsoleErrors(log);
});
