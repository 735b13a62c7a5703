// Responsive under change (issue 10) without WebGPU: the verification runs on the CPU in its worker
// and the scene draws with WebGL2. e2e/responsive.spec.ts is the same check on WebGPU, with GPU
// runs cancelled by newer changes.
import { test } from '@playwright/test';
import { checkResponsive } from './helpers/responsive.ts';

// Timing on a software GPU on two shared cores: one retry keeps CI from failing on the machine rather than the page.
test.describe.configure({ retries: 1 });

test('20 changes in 2 s at 64 ranks: frames keep coming and the last change is verified (CPU check, WebGL2 scene)', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  await checkResponsive(page, testInfo, { backend: 'cpu' });
});
