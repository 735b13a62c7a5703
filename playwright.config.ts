import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';
import { CHROMIUM_PATH as chromiumPath, NO_WEBGPU_ARGS, WEBGPU_ARGS } from './scripts/chromium.ts';

// The tests use the system Chromium (never `npx playwright install`, which downloads a browser).
if (!existsSync(chromiumPath)) {
  throw new Error(
    `No Chromium at ${chromiumPath}. Install one (Debian: apt-get install -y chromium) ` +
      'or point CHROMIUM_PATH at a Chrome/Chromium binary.',
  );
}

const port = Number(process.env.E2E_PORT ?? 4179);

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  timeout: 120_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    baseURL: `http://127.0.0.1:${port}/`,
    viewport: { width: 1280, height: 720 },
    screenshot: 'on',
    trace: 'retain-on-failure',
  },
  // The built app (vite build + preview): what a visitor loads, under the same CSP, and each page
  // load is a few files instead of a hundred transformed modules (~3 s less per test on 2 cores).
  // E2E_DEV=1 serves the dev server instead, for iterating on a spec without rebuilding.
  webServer: {
    command: process.env.E2E_DEV
      ? `npx vite --port ${port} --strictPort --host 127.0.0.1`
      : `npx vite build --logLevel warn && npx vite preview --port ${port} --strictPort --host 127.0.0.1`,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
  },
  projects: [
    {
      name: 'webgpu',
      testIgnore: /no-webgpu\.spec\.ts/,
      use: { browserName: 'chromium', launchOptions: { executablePath: chromiumPath, args: WEBGPU_ARGS } },
    },
    {
      name: 'no-webgpu',
      testMatch: /no-webgpu\.spec\.ts/,
      use: { browserName: 'chromium', launchOptions: { executablePath: chromiumPath, args: NO_WEBGPU_ARGS } },
    },
  ],
});
