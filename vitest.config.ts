import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Dawn (the `webgpu` package) runs on SwiftShader's Vulkan driver, which ships with Debian's
// chromium. These must be set here, in the main process, so that the forked workers inherit them.
// Never Dawn's GL ES backend on Mesa: it returns silently wrong results for long loops.
const swiftshaderIcd = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(swiftshaderIcd)) process.env.VK_ICD_FILENAMES = swiftshaderIcd;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
