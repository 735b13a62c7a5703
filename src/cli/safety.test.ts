// The CLI never leaves a wrong file and never crashes on hostile flags (issue 13, item 5).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { captureConsole, tempFolder } from './testing.ts';
import { generateInputs } from '../model/random.ts';
import { run as attention } from './attention.ts';
import { readNpy, writeNpy } from './npy.ts';
import { prepareOutput, OutputError } from './output.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const path = tempFolder('shardscope-safety-');
const { out, err, clear } = captureConsole();

const inputs = generateInputs(7, 2, 1, 24, 8);
writeFileSync(path('q.npy'), writeNpy(inputs.q, [2, 24, 8]));
writeFileSync(path('k.npy'), writeNpy(inputs.k, [1, 24, 8]));
writeFileSync(path('v.npy'), writeNpy(inputs.v, [1, 24, 8]));
const files = (q = 'q.npy', k = 'k.npy', v = 'v.npy') => ['--q', path(q), '--k', path(k), '--v', path(v), '--backend', 'cpu'];

describe('attention: no file on failure', () => {
  it('NaN input: refused before the run, naming the file and the index of the first bad value; no --out', async () => {
    const bad = new Float32Array(inputs.k);
    bad[37] = Number.NaN;
    bad[50] = Number.POSITIVE_INFINITY;
    writeFileSync(path('k_nan.npy'), writeNpy(bad, [1, 24, 8]));
    expect(await attention([...files('q.npy', 'k_nan.npy'), '--out', path('o_nan.npy')])).toBe(2);
    expect(err.join('\n')).toMatch(/--k .*k_nan\.npy holds 2 non-finite values; the first is NaN at index \[0, 4, 5\] \(flat 37\)/);
    expect(out.join('\n')).not.toMatch(/max \|sharded/); // nothing ran
    expect(existsSync(path('o_nan.npy'))).toBe(false);
  });
  it('a bad shape: no --out, and an existing --out is left as it was', async () => {
    writeFileSync(path('k_short.npy'), writeNpy(new Float32Array(20 * 8), [1, 20, 8]));
    writeFileSync(path('o_keep.npy'), 'previous result');
    expect(await attention([...files('q.npy', 'k_short.npy', 'k_short.npy'), '--out', path('o_keep.npy')])).toBe(2);
    expect(err.join('\n')).toMatch(/does not match --q/);
    expect(readFileSync(path('o_keep.npy'), 'utf8')).toBe('previous result');
  });
  it('an unwritable --out is refused before the run', async () => {
    for (const target of [path('missing-folder/o.npy'), path(''), path('q.npy/o.npy')]) {
      clear();
      expect(await attention([...files(), '--out', target])).toBe(2);
      expect(err.join('\n')).toMatch(/error: cannot write --out/);
      expect(out.join('\n')).not.toMatch(/max \|sharded/);
    }
    expect(existsSync(path('missing-folder'))).toBe(false);
    // A read-only folder (as root, permission bits do not stop writes, so this case needs a non-root user).
    if (process.getuid?.() !== 0) {
      mkdirSync(path('ro'));
      chmodSync(path('ro'), 0o500);
      expect(await attention([...files(), '--out', path('ro/o.npy')])).toBe(2);
      expect(readdirSync(path('ro'))).toEqual([]);
    }
  });
  it('--out naming an input file is refused', async () => {
    expect(await attention([...files(), '--out', path('q.npy')])).toBe(2);
    expect(err.join('\n')).toMatch(/--out names the same file as --q/);
  });
  it('a failed check (the local-mask bug demo) does not write --out', async () => {
    expect(await attention([...files(), '--strategy', 'ring', '--ranks', '4', '--local-mask', '--out', path('o_mask.npy')])).toBe(0);
    expect(out.join('\n')).toMatch(/not writing --out .*o_mask\.npy: the output failed the check/);
    expect(existsSync(path('o_mask.npy'))).toBe(false);
  });
  it('a passing run writes --out through a temporary file renamed into place', async () => {
    expect(await attention([...files(), '--strategy', 'zigzag', '--ranks', '3', '--out', path('o.npy')])).toBe(0);
    expect(readNpy(readFileSync(path('o.npy'))).shape).toEqual([2, 24, 8]);
    expect(readdirSync(path('')).filter((f) => f.endsWith('.tmp') || f.includes('.check-'))).toEqual([]);
  });
  it('"--heads 3 --kv-heads 2" is refused without saying "using 3"', async () => {
    expect(await attention(['--heads', '3', '--kv-heads', '2', '--backend', 'cpu'])).toBe(2);
    const text = [...out, ...err].join('\n');
    expect(text).toMatch(/K\/V heads \(kvHeads\) must divide the 3 query heads; got 2\./);
    expect(text).not.toMatch(/using/);
    expect(text).not.toMatch(/\.\./);
  });
  it('--local-mask=1 is accepted; a bad switch value names the accepted syntax', async () => {
    expect(await attention(['--local-mask=1', '--seq', '32', '--head-dim', '8', '--backend', 'cpu'])).toBe(0);
    expect(await attention(['--local-mask=yes', '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/--local-mask is a switch: write --local-mask, --local-mask=1 or --local-mask=0/);
  });
});

describe('prepareOutput', () => {
  it('commit replaces the file atomically and leaves no temporary file', () => {
    writeFileSync(path('atomic.bin'), 'old');
    const o = prepareOutput(path('atomic.bin'), '--out');
    o.commit(new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path('atomic.bin'))]).toEqual([1, 2, 3]);
    expect(() => prepareOutput(path('nope/x.bin'), '--out')).toThrow(OutputError);
    expect(() => prepareOutput(path('nope/x.bin'), '--out')).toThrow(/--out .*nope\/x\.bin: its folder .* does not exist/);
  });
});

// Spawned, so that the exit code and the absence of a stack trace are what a shell sees.
function cli(...args: string[]) {
  const r = spawnSync('npx', ['tsx', 'scripts/cli.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('prototype-named flags exit 2 with a message, never a stack trace', () => {
  it.each(['plan', 'attention', 'compare'])('%s', (command) => {
    for (const argv of [['--constructor', '1'], ['--__proto__=1']]) {
      const r = cli(command, ...argv, ...(command === 'attention' ? ['--backend', 'cpu'] : []));
      expect(r.code, `${command} ${argv.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/unknown flag/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack frames
      expect(r.stdout).toBe('');
    }
  });
  it('an unknown command exits 2 with the command list', () => {
    const r = cli('constructor');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage: npm run cli -- <plan\|attention(\|\w+)*>/);
  });
});
