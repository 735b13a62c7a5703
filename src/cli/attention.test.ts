// `npm run cli -- attention`: exit codes, .npy input/output, adapter and error report.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { captureConsole, tempFolder } from './testing.ts';
import { generateInputs } from '../model/random.ts';
import { compare } from '../model/reference.ts';
import { getTestGpu } from '../gpu/testing.ts';
import { run } from './attention.ts';
import { readNpy, writeNpy } from './npy.ts';

const path = tempFolder('shardscope-cli-');
const { out, err, clear } = captureConsole();

// Inputs [heads 2, seq 24, d 8] and K/V [1, 24, 8], written as .npy.
const inputs = generateInputs(4, 2, 1, 24, 8);
writeFileSync(path('q.npy'), writeNpy(inputs.q, [2, 24, 8]));
writeFileSync(path('k.npy'), writeNpy(inputs.k, [1, 24, 8]));
writeFileSync(path('v.npy'), writeNpy(inputs.v, [1, 24, 8]));
const files = ['--q', path('q.npy'), '--k', path('k.npy'), '--v', path('v.npy')];

describe('attention CLI: bad input exits 2 with a clear message', () => {
  it('bad magic', async () => {
    writeFileSync(path('bad.npy'), 'not an array');
    expect(await run(['--q', path('bad.npy'), '--k', path('k.npy'), '--v', path('v.npy'), '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/bad\.npy is not a NumPy \.npy file/);
  });
  it('wrong dtype', async () => {
    const f64 = readFileSync(path('k.npy'));
    const header = new TextDecoder('latin1').decode(f64.subarray(0, 128)).replace("'<f4'", "'<f8'");
    const bytes = new Uint8Array(f64);
    for (let i = 0; i < 128; i++) bytes[i] = header.charCodeAt(i);
    writeFileSync(path('k64.npy'), bytes);
    expect(await run(['--q', path('q.npy'), '--k', path('k64.npy'), '--v', path('v.npy'), '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/float64 .* float32 .* is required/);
  });
  it('shape mismatch between files, and between files and flags', async () => {
    writeFileSync(path('k_short.npy'), writeNpy(new Float32Array(1 * 20 * 8), [1, 20, 8]));
    expect(await run(['--q', path('q.npy'), '--k', path('k_short.npy'), '--v', path('k_short.npy'), '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/does not match --q/);
    clear();
    expect(await run([...files, '--head-dim', '16', '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/--head-dim 16 contradicts the files, which have head-dim 8/);
    writeFileSync(path('q2d.npy'), writeNpy(new Float32Array(24 * 8), [24, 8]));
    expect(await run(['--q', path('q2d.npy'), '--k', path('k.npy'), '--v', path('v.npy'), '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/shape \[heads, seq, head_dim\]/);
  });
  it('truncation', async () => {
    const good = readFileSync(path('v.npy'));
    writeFileSync(path('v_cut.npy'), good.subarray(0, good.length - 100));
    expect(await run(['--q', path('q.npy'), '--k', path('k.npy'), '--v', path('v_cut.npy'), '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/v_cut\.npy is truncated/);
  });
  it('a missing file, a missing --v, an unknown flag, a strategy that cannot run', async () => {
    expect(await run(['--q', path('nope.npy'), '--k', path('k.npy'), '--v', path('v.npy')])).toBe(2);
    expect(err.join('\n')).toMatch(/cannot read the file \(ENOENT\)/);
    expect(await run(['--q', path('q.npy'), '--k', path('k.npy')])).toBe(2);
    expect(await run(['--frobnicate', '1'])).toBe(2);
    expect(await run(['--strategy', 'ulysses', '--ranks', '3', '--backend', 'cpu'])).toBe(2);
    expect(err.join('\n')).toMatch(/Ulysses needs the rank count to divide/);
  });
});

describe('attention CLI: runs', () => {
  it('--backend cpu with files and --out writes a valid .npy equal to the reference', async () => {
    expect(await run([...files, '--strategy', 'zigzag', '--ranks', '3', '--backend', 'cpu', '--out', path('o_cpu.npy')])).toBe(0);
    expect(out.join('\n')).toMatch(/CPU executor/);
    expect(out.join('\n')).toMatch(/max \|sharded − float64 reference\| = /);
    const o = readNpy(readFileSync(path('o_cpu.npy')));
    expect(o.shape).toEqual([2, 24, 8]);
  });

  it('the local-mask demo reports the large error and exits 0', async () => {
    expect(await run(['--strategy', 'ring', '--ranks', '4', '--seq', '32', '--head-dim', '8', '--backend', 'cpu', '--local-mask'])).toBe(0);
    expect(out.join('\n')).toMatch(/the large error a real masking bug causes/);
  });

  it('GPU: says which adapter it used, prints the error vs the unsharded reference, writes O', async (ctx) => {
    const gpu = await getTestGpu();
    if (!gpu) return ctx.skip('no WebGPU adapter in node');
    expect(await run([...files, '--strategy', 'usp', '--ranks', '4', '--ulysses', '2', '--out', path('o_gpu.npy')])).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/adapter: .+ — via /);
    expect(text).toMatch(/max \|sharded − unsharded GPU reference\| = /);
    expect(text).toMatch(/OK: within the fp32 tolerance/);
    const gpuO = readNpy(readFileSync(path('o_gpu.npy')));
    const cpuO = readNpy(readFileSync(path('o_cpu.npy')));
    expect(gpuO.shape).toEqual([2, 24, 8]);
    expect(compare(gpuO.data, cpuO.data).maxAbsError).toBeLessThan(1e-5);
  });
});
