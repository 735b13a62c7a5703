// Runs in the 'no-webgpu' project: Chromium without --enable-unsafe-webgpu, so requestAdapter() gives null.
import { expect, test } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, state, waitForVerification, watchConsole } from './fixtures.ts';

test('without WebGPU the page says so, explains what to do, and keeps working', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page);
  const s = await state<{ webgpu: boolean; errors: string[] }>(page);
  expect(s.webgpu).toBe(false);
  expect(s.errors).toEqual([]);

  const message = page.locator('.message[data-key="no-webgpu"]');
  await expect(message).toBeVisible();
  await expect(message).toContainText('WebGPU is unavailable');
  await expect(message).toContainText('Chrome');
  await expect(message).toContainText('enable-unsafe-webgpu');

  // The attention check still runs, on the CPU, and says so.
  await waitForVerification(page);
  const v = await state<{ verification: { backend: string; maxAbsError: number } | null }>(page);
  expect(v.verification?.backend).toBe('cpu');
  expect(v.verification?.maxAbsError).toBeLessThan(1e-4);

  await saveScreenshot(page, testInfo, 'no-webgpu');
  expectNoConsoleErrors(log);
});
