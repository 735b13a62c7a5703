// `npm run cli -- attention --backward`: the CLI's dQ, dK, dV for a seeded case agree with an
// independent gradient — central finite differences of a float64 causal-attention forward
// (src/model/gradcheck.ts; there is no Python/torch autograd on this machine) — and bad input exits 2
// without writing any output file.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { captureConsole, tempFolder } from './testing.ts';
import { generateInputs } from '../model/random.ts';
import { finiteDifferenceGradients } from '../model/gradcheck.ts';
import { gradientError, outputGradient } from '../model/referenceBackward.ts';
import { getTestGpu } from '../gpu/testing.ts';
import { run } from './attention.ts';
import { readNpy, writeNpy } from './npy.ts';

const path = tempFolder('shardscope-cli-bwd-');
const { out, err, clear } = captureConsole();

// Seeded case: Q [4 heads, 11 tokens, d 6], K/V [2 K/V heads, 11, 6] (GQA 2:1), dO [4, 11, 6].
const H = 4;
const KVH = 2;
const S = 11;
const D = 6;
const inputs = generateInputs(2026, H, KVH, S, D);
const dO = outputGradient(2026, H, S, D);
writeFileSync(path('q.npy'), writeNpy(inputs.q, [H, S, D]));
writeFileSync(path('k.npy'), writeNpy(inputs.k, [KVH, S, D]));
writeFileSync(path('v.npy'), writeNpy(inputs.v, [KVH, S, D]));
writeFileSync(path('do.npy'), writeNpy(dO, [H, S, D]));
const files = ['--q', path('q.npy'), '--k', path('k.npy'), '--v', path('v.npy'), '--dout', path('do.npy')];
const fd = finiteDifferenceGradients(inputs, dO);

const gpu = await getTestGpu();

describe('attention CLI --backward', () => {
  for (const [strategy, ranks, backend] of [['zigzag', 3, 'gpu'], ['ulysses', 2, 'gpu'], ['ring', 4, 'cpu']] as const) {
    it.skipIf(backend === 'gpu' && !gpu)(`${strategy} × ${ranks} (${backend}): dQ, dK, dV equal central finite differences of a float64 forward`, async () => {
      const tag = `${strategy}-${backend}`;
      const outs = ['--out-dq', path(`dq-${tag}.npy`), '--out-dk', path(`dk-${tag}.npy`), '--out-dv', path(`dv-${tag}.npy`), '--out', path(`o-${tag}.npy`)];
      const code = await run(['--backward', '--strategy', strategy, '--ranks', String(ranks), '--backend', backend, ...files, ...outs]);
      expect(err.join('\n')).toBe('');
      expect(code).toBe(0);
      expect(out.join('\n')).toMatch(/backward max \|sharded − .* reference\|: dQ .*, dK .*, dV/);
      for (const [t, heads] of [['dq', H], ['dk', KVH], ['dv', KVH]] as const) {
        const a = readNpy(readFileSync(path(`${t}-${tag}.npy`)), t);
        expect(a.shape).toEqual([heads, S, D]);
        const e = gradientError(a.data, fd[t], { seq: S, headDim: D });
        expect(e.maxMagnitude, t).toBeGreaterThan(0.1);
        expect(e.relative, `${tag} ${t} vs finite differences`).toBeLessThan(1e-4);
      }
      expect(readNpy(readFileSync(path(`o-${tag}.npy`)), 'o').shape).toEqual([H, S, D]);
    }, 180_000);
  }

  it('bad --dout shape, unreadable --dout, or backward outputs without --backward: exit 2, no output file', async () => {
    writeFileSync(path('do_short.npy'), writeNpy(new Float32Array(H * (S - 1) * D), [H, S - 1, D]));
    const outs = (tag: string): string[] => ['--out-dq', path(`dq-${tag}.npy`), '--out-dk', path(`dk-${tag}.npy`), '--out-dv', path(`dv-${tag}.npy`), '--out', path(`o-${tag}.npy`)];
    const qkv = files.slice(0, 6);
    expect(await run(['--backward', '--backend', 'cpu', ...qkv, '--dout', path('do_short.npy'), ...outs('short')])).toBe(2);
    expect(err.join('\n')).toMatch(/--dout must have the shape of the attention output \[heads, seq, head_dim\] = \(4, 11, 6\), like --q; got \(4, 10, 6\)/);
    clear();
    expect(await run(['--backward', '--backend', 'cpu', ...qkv, '--dout', path('missing.npy'), ...outs('missing')])).toBe(2);
    expect(err.join('\n')).toMatch(/--dout .*missing\.npy: cannot read the file \(ENOENT\)/);
    clear();
    expect(await run(['--backend', 'cpu', ...qkv, '--out-dq', path('dq-noflag.npy')])).toBe(2);
    expect(err.join('\n')).toMatch(/--out-dq belongs to the backward pass: add --backward/);
    clear();
    expect(await run(['--backward', '--backend', 'cpu', ...files, '--out-dq', path('do.npy')])).toBe(2);
    expect(err.join('\n')).toMatch(/--out-dq names the same file as --dout/);
    for (const tag of ['short', 'missing']) for (const t of ['dq', 'dk', 'dv', 'o']) expect(existsSync(path(`${t}-${tag}.npy`)), `${t}-${tag}`).toBe(false);
    expect(existsSync(path('dq-noflag.npy'))).toBe(false);
  });

  it('the local-mask demo reports how far the gradients are off and writes nothing', async () => {
    const outs = ['--out-dq', path('dq-lm.npy'), '--out-dk', path('dk-lm.npy'), '--out-dv', path('dv-lm.npy')];
    expect(await run(['--backward', '--local-mask', '--strategy', 'ring', '--ranks', '3', '--backend', 'cpu', ...files, ...outs])).toBe(0);
    expect(out.join('\n')).toMatch(/local mask: gradients off by \d\.\d\de[-+]\d+ of the largest gradient — the bug corrupts the backward pass too/);
    expect(out.join('\n')).toMatch(/not writing --out-dq/);
    for (const t of ['dq', 'dk', 'dv']) expect(existsSync(path(`${t}-lm.npy`))).toBe(false);
  });
});
