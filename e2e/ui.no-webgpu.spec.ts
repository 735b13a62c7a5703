// Runs in the 'no-webgpu' project: the controls, readouts, URL state and PNG export work without
// WebGPU (the scene falls back to WebGL2, the attention check to the CPU).
import { expect, test } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, state, waitForVerification, watchConsole } from './fixtures.ts';

interface Shardscope {
  webgpu: boolean;
  params: Record<string, unknown>;
  memoryPerRank: number[];
  overlap: { hides: boolean; exposedSecondsPerLayer: number; condition: string };
  timeline: { exposedPerLayer: number };
  playback: { step: number };
  lastPng: { width: number; height: number; sceneHeight: number; bandHeight: number } | null;
}

const APP = process.env.SHARDSCOPE_APP ?? './';

test('without WebGPU the panel, readouts, URL state and PNG export still work', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=zigzag&seq=64K&ranks=4&step=3&execSeq=64`);
  let s = await state<Shardscope>(page);
  expect(s.webgpu).toBe(false);
  expect(s.params).toMatchObject({ strategy: 'zigzag', seq: 65536, ranks: 4 });
  expect(s.playback.step).toBe(2);
  const before = s.memoryPerRank;
  expect(before).toHaveLength(4);
  // The overlap verdict is the timeline's: hidden exactly when little of the layer is exposed.
  expect(s.overlap.exposedSecondsPerLayer).toBeCloseTo(s.timeline.exposedPerLayer, 12);
  expect(s.overlap.condition).toMatch(/\S/);

  await page.locator('.ui-chip[data-ranks="8"]').click();
  await expect.poll(async () => (await state<Shardscope>(page)).memoryPerRank.length).toBe(8);
  s = await state<Shardscope>(page);
  expect(Math.max(...s.memoryPerRank)).toBeLessThan(Math.min(...before));
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('ranks=8');

  await waitForVerification(page);
  await expect(page.locator('#ro-verify')).toContainText('equals the unsharded result');
  await expect(page.locator('#ro-verify-detail')).toContainText('on the CPU');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save PNG (2×)' }).click()]);
  expect(download.suggestedFilename()).toMatch(/^shardscope-zigzag-64K-8ranks-step\d+\.png$/);
  const box = await page.locator('#scene-canvas').evaluate((c) => ({ w: Math.round(c.clientWidth), h: Math.round(c.clientHeight) }));
  const png = (await state<Shardscope>(page)).lastPng;
  expect(png).toMatchObject({ width: 2 * box.w, sceneHeight: box.h });
  expect(png?.height).toBe(2 * (box.h + (png?.bandHeight ?? NaN)));

  await saveScreenshot(page, testInfo, 'ui-no-webgpu');
  expectNoConsoleErrors(log);
});
