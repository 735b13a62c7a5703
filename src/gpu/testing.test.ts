// The "device or skip / fail" helper: without an adapter the GPU tests skip with a reason, unless
// SHARDSCOPE_REQUIRE_GPU=1 (CI), where the missing adapter is an error. Runs the helper in a child
// process whose Vulkan loader is pointed at a driver file that does not exist.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const helper = fileURLToPath(new URL('./testing.ts', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

function probe(requireGpu: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'shardscope-probe-'));
  const script = join(dir, 'probe.mts');
  writeFileSync(
    script,
    `const { getTestGpu } = await import(${JSON.stringify(helper)});\n` +
      `try { const g = await getTestGpu(); console.log(g === null ? 'RESULT null' : 'RESULT device'); } catch (e) { console.log('THREW ' + e.message); }\n` +
      `process.exit(0);\n`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' };
  delete env.VK_DRIVER_FILES;
  if (requireGpu) env.SHARDSCOPE_REQUIRE_GPU = '1';
  else delete env.SHARDSCOPE_REQUIRE_GPU;
  return execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('getTestGpu without an adapter', () => {
  it('skips (returns null) with a reason by default', () => {
    expect(probe(false)).toContain('RESULT null');
  });
  it('fails when SHARDSCOPE_REQUIRE_GPU=1', () => {
    const out = probe(true);
    expect(out).toContain('THREW SHARDSCOPE_REQUIRE_GPU=1 but No WebGPU adapter');
    expect(out).toContain('/nonexistent/icd.json');
  });
});
