// Responsive under change (issue 10) on WebGPU: 20 changes in 2 s at 64 ranks, with three pauses
// long enough (200 ms > the verification's 150 ms debounce, < the comparison's 250 ms) for a GPU
// verification to start, so that newer changes cancel runs in flight. Frames keep coming, the
// cancelled runs' results never show, and the last change's GPU verification arrives. GPU
// cancellation itself is tested on Dawn (src/gpu/soak.test.ts).
import { expect, test } from '@playwright/test';
import { checkResponsive } from './helpers/responsive.ts';

// Timing on a software GPU on two shared cores: one retry keeps CI from failing on the machine rather than the page.
test.describe.configure({ retries: 1 });

test('20 changes in 2 s at 64 ranks: frames keep coming, runs in flight are cancelled, the last change is verified on the GPU', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const pauses = Array.from({ length: 20 }, (_, i) => (i === 4 || i === 9 || i === 14 ? 200 : 80));
  const after = await checkResponsive(page, testInfo, { backend: 'gpu', pauses });
  expect(after.execution.cancelled + after.execution.staleDropped).toBeGreaterThanOrEqual(1);
});
