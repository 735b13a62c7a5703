// The page runs the backward pass too: window.shardscope.verification.backward carries the dQ, dK, dV
// errors of the sharded run against the unsharded one, the panel shows them, and the local-mask switch
// shows wrong gradients. Also the per-step gradient norms the scene can draw.
import { expect, test } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, state, watchConsole } from './fixtures.ts';

interface Backward {
  maxAbsErrorDq: number;
  maxAbsErrorDk: number;
  maxAbsErrorDv: number;
  gpuMs: number | null;
  relativeError: number;
}
interface V {
  verification: { strategy: string; localMask: boolean; backend: string; maxAbsError: number; backward: Backward | null; backwardError: string | null } | null;
  verificationError: string | null;
  gradientNorms: { step: number; pieces: { rank: number; tensor: string; role: string; norm: number }[] }[] | null;
}

async function verified(page: import('@playwright/test').Page, strategy: string, localMask: boolean): Promise<V> {
  await page.waitForFunction(
    ([s, m]) => {
      const v = (window.shardscope as { verification?: { strategy: string; localMask: boolean } | null }).verification;
      return v != null && v.strategy === s && v.localMask === m;
    },
    [strategy, localMask] as const,
    { timeout: 90_000 },
  );
  return state<V>(page);
}

test('the verification runs the backward on the GPU: dQ, dK, dV errors exposed and shown; local mask corrupts them', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, './?strategy=zigzag&ranks=4&execSeq=64');
  const v = await verified(page, 'zigzag', false);
  expect(v.verificationError).toBeNull();
  const b = v.verification?.backward;
  expect(v.verification?.backwardError ?? null).toBeNull();
  expect(v.verification?.backend).toBe('gpu');
  expect(b).toBeTruthy();
  for (const key of ['maxAbsErrorDq', 'maxAbsErrorDk', 'maxAbsErrorDv'] as const) expect(typeof b?.[key]).toBe('number');
  expect(b?.relativeError).toBeLessThan(1e-4);
  expect(b && 'gpuMs' in b).toBe(true);
  await expect(page.locator('#ro-verify-backward')).toContainText('Backward');
  await expect(page.locator('#ro-verify-backward')).toContainText('dK');
  // Norms per backward step and rank: every rank holds some gradient buffer at the last step.
  const last = v.gradientNorms?.[v.gradientNorms.length - 1];
  expect(new Set(last?.pieces.filter((p) => p.role === 'gradient').map((p) => p.rank))).toEqual(new Set([0, 1, 2, 3]));
  await saveScreenshot(page, testInfo, 'backward-pass');

  await openApp(page, './?strategy=zigzag&ranks=4&execSeq=64&localMask=1');
  const bad = await verified(page, 'zigzag', true);
  expect(bad.verification?.backward?.relativeError).toBeGreaterThan(0.05);
  await expect(page.locator('#ro-verify-backward')).toContainText('wrong');
  await saveScreenshot(page, testInfo, 'backward-local-mask');
  expectNoConsoleErrors(log);
});
