import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

// The tests use the system Chromium (never `npx playwright install`, which downloads a browser).
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  throw new Error(
    `No Chromium at ${chromiumPath}. Install one (Debian: apt-get install -y chromium) ` +
      'or point CHROMIUM_PATH at a Chrome/Chromium binary.',
  );
}

const quiet = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-quic'];
// SwiftShader flags that give a working adapter and a working WebGPU canvas (shared/docs/headless-webgpu.md).
const webgpu = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-angle=vulkan',
];
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
  webServer: {
    command: `npx vite --port ${port} --strictPort --host 127.0.0.1`,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
  },
  projects: [
    {
      name: 'webgpu',
      testIgnore: /no-webgpu\.spec\.ts/,
      use: { browserName: 'chromium', launchOptions: { executablePath: chromiumPath, args: [...quiet, ...webgpu] } },
    },
    {
      name: 'no-webgpu',
      testMatch: /no-webgpu\.spec\.ts/,
      use: { browserName: 'chromium', launchOptions: { executablePath: chromiumPath, args: [...quiet, '--use-angle=swiftshader'] } },
    },
  ],
});
