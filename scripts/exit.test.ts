// Piped CLI output is complete (issue 10, item 1): process.exit() with writes pending cut it at 64 KiB.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { USAGE as PLAN_USAGE } from '../src/cli/plan.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs a command with stdout and stderr on pipes (as `| python3 …` would) and collects both. */
function piped(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

// A child that prints a 1.5 MB JSON document on stdout and 0.5 MB on stderr, in many writes, then ends
// with `exit`: either scripts/exit.ts's finish (what cli.ts and bench.ts use) or a bare process.exit.
const bigOutput = (exit: 'finish' | 'process.exit') => `
  import { finish } from './scripts/exit.ts';
  const rows = Array.from({ length: 15000 }, (_, i) => ({ i, text: 'x'.repeat(80) }));
  process.stdout.write('[');
  rows.forEach((r, i) => process.stdout.write((i ? ',' : '') + JSON.stringify(r)));
  process.stdout.write(']\\n');
  for (let i = 0; i < 5000; i++) process.stderr.write('e'.repeat(99) + '\\n');
  ${exit === 'finish' ? 'await finish(3);' : 'process.exit(3);'}
`;

describe('complete output through a pipe', () => {
  it('more than 1 MB of output survives finish(): parsed whole, with the exit code', async () => {
    const r = await piped(['--input-type=module', '-e', bigOutput('finish')]);
    expect(r.code).toBe(3);
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    const rows = JSON.parse(r.stdout) as { i: number }[];
    expect(rows).toHaveLength(15000);
    expect(rows.at(-1)?.i).toBe(14999);
    expect(r.stderr.length).toBe(500_000);
  });

  it('test of the test: the same output ended by a bare process.exit() arrives cut', async () => {
    const r = await piped(['--input-type=module', '-e', bigOutput('process.exit')]);
    expect(r.code).toBe(3);
    expect(r.stdout.length).toBeLessThan(1_000_000);
    expect(() => JSON.parse(r.stdout)).toThrow();
  });

  it('the real CLI: plan --json at 64 ranks (≈ 250 KB, several pipe buffers) parses whole', async () => {
    const r = await piped(['scripts/cli.ts', 'plan', '--strategy', 'zigzag', '--seq', '10M', '--ranks', '64', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(3 * 65536);
    const j = JSON.parse(r.stdout) as { perRank: unknown[] };
    expect(j.perRank).toHaveLength(64);
  });

  it('the real CLI: a usage error exits 2 with the whole usage text on stderr', async () => {
    const r = await piped(['scripts/cli.ts', 'plan', '--seq']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--seq needs a value/);
    expect(r.stderr.trimEnd().endsWith(PLAN_USAGE.trimEnd())).toBe(true);
  });
});
