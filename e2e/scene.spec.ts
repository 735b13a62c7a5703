// The scene on real WebGPU (SwiftShader): every strategy renders without errors, playback
// advances by play and by the arrow key, the canvas is not blank, and 200 param changes leave the
// three.js geometry/texture counts where they started.
import { expect, test, type Page } from '@playwright/test';
import { expectNoConsoleErrors, openApp, state, watchConsole } from './fixtures.ts';
import { decodePng, distinctColours } from './helpers/png.ts';

/** index.html has no favicon: Chromium's own /favicon.ico request would log a 404 console error mid-test. */
async function quietFavicon(page: import('@playwright/test').Page): Promise<void> {
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204, body: '' }));
}

interface SceneInfo {
  geometries: number;
  textures: number;
  programs?: number;
  backend: string;
  instances: number;
  dropped: number;
}
interface PlaybackState {
  step: number;
  stepCount: number;
  playing: boolean;
}

const STRATEGIES: Record<string, string> = {
  allgather: 'strategy=allgather&ranks=4',
  ring: 'strategy=ring&ranks=4',
  zigzag: 'strategy=zigzag&ranks=4',
  striped: 'strategy=striped&ranks=4',
  ulysses: 'strategy=ulysses&ranks=4',
  'megatron-sp': 'strategy=megatron-sp&ranks=4',
  usp: 'strategy=usp&ranks=4&ulysses=2',
};

async function sceneInfo(page: Page): Promise<SceneInfo> {
  return (await state<{ sceneInfo: SceneInfo }>(page)).sceneInfo;
}
async function playback(page: Page): Promise<PlaybackState> {
  return (await state<{ playback: PlaybackState }>(page)).playback;
}

for (const [strategy, hash] of Object.entries(STRATEGIES)) {
  test(`scene: ${strategy} renders, plays, steps, and is not blank`, async ({ page }, testInfo) => {
    const log = watchConsole(page);
    await quietFavicon(page);
  await quietFavicon(page);
    await openApp(page, `./#${hash}`);
    await page.waitForFunction(() => (window.shardscope as { sceneInfo?: { instances: number } }).sceneInfo?.instances! > 0, undefined, { timeout: 60_000 });
    const info = await sceneInfo(page);
    expect(info.backend).toBe('webgpu');
    expect(info.dropped).toBe(0);
    const s = await state<{ params: { strategy: string }; errors: string[] }>(page);
    expect(s.params.strategy).toBe(strategy);

    // Arrow key: one step forward (the canvas has focus).
    await page.locator('#scene-canvas').focus();
    const before = await playback(page);
    expect(before.stepCount).toBeGreaterThan(1);
    await page.keyboard.press('ArrowRight');
    await expect.poll(async () => (await playback(page)).step).toBe(before.step + 1);
    await page.keyboard.press('ArrowLeft');
    await expect.poll(async () => (await playback(page)).step).toBe(before.step);

    // Play: the visible button, then the step advances on its own.
    await page.locator('.ss-controls .ss-play').click();
    await expect.poll(async () => (await playback(page)).playing).toBe(true);
    await expect.poll(async () => (await playback(page)).step, { timeout: 30_000 }).toBeGreaterThan(before.step);
    await page.keyboard.press(' ');
    await expect.poll(async () => (await playback(page)).playing).toBe(false);

    // A mid-schedule frame (a collective in flight for most strategies), then the screenshot.
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await page.waitForTimeout(500);
    const shot = await page.locator('#stage').screenshot({ timeout: 90_000 });
    await testInfo.attach(`scene-${strategy}.png`, { body: shot, contentType: 'image/png' });
    const colours = distinctColours(decodePng(shot));
    testInfo.annotations.push({ type: 'distinct colours', description: String(colours) });
    console.log(`[scene] ${strategy}: ${colours} distinct colours, ${info.instances} instances`);
    expect(colours).toBeGreaterThanOrEqual(12);

    expect((await state<{ errors: string[] }>(page)).errors).toEqual([]);
    expectNoConsoleErrors(log);
  });
}

test('scene soak: 200 param changes, then geometries and textures are back to baseline', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  const log = watchConsole(page);
  await quietFavicon(page);
  await openApp(page, './#strategy=ring&ranks=8');
  await page.waitForFunction(() => (window.shardscope as { sceneInfo?: { instances: number } }).sceneInfo?.instances! > 0, undefined, { timeout: 60_000 });
  await page.waitForTimeout(300);
  const baseline = await sceneInfo(page);
  const strategies = Object.keys(STRATEGIES);
  await page.evaluate(async (ids) => {
    const hook = (window as unknown as { __shardscopeTest: { setParams(p: Record<string, unknown>): void } }).__shardscopeTest;
    const ranks = [1, 2, 3, 4, 6, 8, 12, 16, 32, 64];
    const nextFrame = (): Promise<void> => new Promise((r) => requestAnimationFrame(() => r()));
    for (let i = 0; i < 200; i++) {
      hook.setParams({ strategy: ids[i % ids.length], ranks: ranks[(i * 7) % ranks.length], seq: 1024 * (1 + ((i * 13) % 512)), ulysses: i % 2 ? 2 : 4 });
      // Let the scene draw every 10th change (it rebuilds lazily on the next frame).
      if (i % 10 === 9) await nextFrame();
    }
    hook.setParams({ strategy: 'ring', ranks: 8, seq: 131072, ulysses: 2 });
    await nextFrame();
    await nextFrame();
  }, strategies);
  await page.waitForTimeout(500);
  const after = await sceneInfo(page);
  console.log(`[scene soak] baseline geometries ${baseline.geometries}, textures ${baseline.textures}, programs ${baseline.programs}; after 200 changes geometries ${after.geometries}, textures ${after.textures}, programs ${after.programs}`);
  testInfo.annotations.push({ type: 'soak', description: `baseline ${JSON.stringify(baseline)} after ${JSON.stringify(after)}` });
  expect(after.geometries).toBe(baseline.geometries);
  expect(after.textures).toBe(baseline.textures);
  expect((await state<{ errors: string[] }>(page)).errors).toEqual([]);
  expectNoConsoleErrors(log);
});
