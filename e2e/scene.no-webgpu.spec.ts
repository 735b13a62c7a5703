// Runs in the 'no-webgpu' project: no adapter, so the scene renders through three's WebGL2 backend.
import { expect, test } from '@playwright/test';
import { expectNoConsoleErrors, openApp, state, watchConsole } from './fixtures.ts';
import { decodePng, distinctColours } from './helpers/png.ts';

/** index.html has no favicon: Chromium's own /favicon.ico request would log a 404 console error mid-test. */
async function quietFavicon(page: import('@playwright/test').Page): Promise<void> {
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204, body: '' }));
}

test('without WebGPU the scene renders through WebGL2 and still plays', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await quietFavicon(page);
  await openApp(page, './#strategy=zigzag&ranks=4');
  await page.waitForFunction(() => (window.shardscope as { sceneInfo?: { instances: number } }).sceneInfo?.instances! > 0, undefined, { timeout: 60_000 });
  const s = await state<{ webgpu: boolean; sceneInfo: { backend: string }; errors: string[]; playback: { step: number } }>(page);
  expect(s.webgpu).toBe(false);
  expect(s.sceneInfo.backend).toBe('webgl2');
  await page.locator('#scene-canvas').focus();
  await page.keyboard.press('ArrowRight');
  await expect.poll(async () => (await state<{ playback: { step: number } }>(page)).playback.step).toBe(s.playback.step + 1);
  await page.waitForTimeout(500);
  const shot = await page.locator('#stage').screenshot({ timeout: 90_000 });
  await testInfo.attach('scene-webgl2.png', { body: shot, contentType: 'image/png' });
  const colours = distinctColours(decodePng(shot));
  console.log(`[scene webgl2] ${colours} distinct colours`);
  expect(colours).toBeGreaterThanOrEqual(12);
  expect((await state<{ errors: string[] }>(page)).errors).toEqual([]);
  expectNoConsoleErrors(log);
});
