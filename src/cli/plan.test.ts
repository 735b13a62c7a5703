import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from './plan.ts';
import { plan, planToJson } from '../model/plan.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync('npx', ['tsx', 'scripts/cli.ts', 'plan', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('plan CLI (spawned)', () => {
  it('--json prints the contract, equal to planToJson(plan(params))', () => {
    const r = cli('--strategy', 'ring', '--seq', '131072', '--ranks', '8', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown> & { perRank: Record<string, unknown>[] };
    expect(j).toMatchObject({ strategy: 'ring', ranks: 8, seq: 131072, valid: true });
    expect(j.steps).toBeGreaterThan(0);
    expect(j.perRank).toHaveLength(8);
    const r0 = j.perRank[0] as { memory: Record<string, number>; commBytesPerLayer: Record<string, number>; causalFlops: number };
    for (const k of ['weights', 'grads', 'optimizer', 'activations', 'activationsPerLayer', 'kvWorkingSet', 'scores', 'logits', 'peak']) expect(typeof r0.memory[k]).toBe('number');
    expect(r0.commBytesPerLayer.forward).toBeGreaterThan(0);
    expect(r0.commBytesPerLayer.backward).toBeGreaterThan(0);
    // The UI calls the same function: the numbers must be identical.
    const { params } = parseArgs(['--strategy', 'ring', '--seq', '131072', '--ranks', '8']);
    expect(j).toEqual(JSON.parse(JSON.stringify(planToJson(plan(params)))));
  });

  it('flags with = and suffixes: --seq=128k --model llama3-70b --no-flash', () => {
    const r = cli('--strategy=zigzag', '--seq=128k', '--ranks', '16', '--model', 'llama3-70b', '--no-flash', '--recompute', 'full', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { seq: number; perRank: { memory: { scores: number } }[] };
    expect(j.seq).toBe(131072);
    expect(j.perRank).toHaveLength(16);
    expect(j.perRank[0]?.memory.scores).toBeGreaterThan(0);
  });

  it('invalid strategy for the params is an answer: valid false, reason, exit 0', () => {
    const r = cli('--strategy', 'ulysses', '--ranks', '64', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { valid: boolean; reason: string };
    expect(j.valid).toBe(false);
    expect(j.reason).toMatch(/heads/);
  });

  it('bad arguments exit 2 with a message on stderr', () => {
    const unknownStrategy = cli('--strategy', 'spiral');
    expect(unknownStrategy.code).toBe(2);
    expect(unknownStrategy.stderr).toMatch(/--strategy.*allgather, ring, zigzag, striped, ulysses, megatron-sp, usp/);
    const unknownFlag = cli('--sequence', '10');
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toMatch(/unknown flag --sequence/);
  });

  it('--impl selects the profile: TE zigzag backward 939.5 MB, ring-flash-attention 1,543.5 MB; the new contract fields', () => {
    const te = JSON.parse(cli('--strategy', 'zigzag', '--impl', 'megatron-te', '--json').stdout) as Record<string, unknown> & { perRank: Record<string, any>[] };
    expect(te.impl).toBe('megatron-te');
    expect(te.perRank[0]?.commBytesPerLayer.backward).toBe(939_524_096);
    expect(te.perRank[0]?.memory.gradsDtypeBytes).toBe(4);
    expect(Object.keys(te.perRank[0]?.commBytesPerIteration ?? {})).toEqual(['attention', 'tensorParallel', 'gradients', 'total']);
    expect(Object.keys(te.overlap as object)).toEqual(['condition', 'blockTokens', 'neededTokens', 'hides', 'exposedSecondsPerLayer']);
    expect(te.balance).toHaveProperty('ideal');
    const rfa = JSON.parse(cli('--strategy=zigzag', '--impl=ring-flash-attn', '--json').stdout) as { perRank: { commBytesPerLayer: { backward: number } }[] };
    expect(rfa.perRank[0]?.commBytesPerLayer.backward).toBe(1_543_503_872);
    const bad = cli('--impl', 'jax');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--impl.*auto, megatron-te, ring-flash-attn, pytorch, deepspeed/);
    const no = JSON.parse(cli('--strategy', 'ring', '--impl', 'megatron-te', '--json').stdout) as { valid: boolean; reason: string };
    expect(no.valid).toBe(false);
    expect(no.reason).toMatch(/2·cp chunks/);
  });

  it('--help names the real defaults (full recompute) and the per-strategy profiles', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/full recompute/);
    expect(r.stdout).not.toMatch(/selective recompute/);
    expect(r.stdout).toMatch(/--impl auto\|megatron-te\|ring-flash-attn\|pytorch\|deepspeed/);
    expect(r.stdout).toMatch(/zigzag megatron-te/);
  });

  it('the table names every rank and the peak', () => {
    const r = cli('--strategy', 'megatron-sp', '--ranks', '4', '--seq', '32k');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/peak GB/);
    expect(r.stdout.split('\n').filter((l) => /^\s+[0-3]\s+\d+\s+8K/.test(l))).toHaveLength(4);
    expect(r.stdout).toMatch(/Balance/);
  });

  it('each byte column is in the unit its largest value reads in: a 1K plan shows activations in MB, not 0.00 GB', () => {
    const r = cli('--ranks', '4', '--seq', '1K');
    expect(r.code).toBe(0);
    const [header, row0] = r.stdout.split('\n').filter((l) => /^rank\s|^\s+0\s+0\s/.test(l));
    const cells = (line: string | undefined): string[] => (line ?? '').trim().split(/\s{2,}/);
    const at = (title: string): string | undefined => cells(row0)[cells(header).indexOf(title)];
    expect(cells(header)).toEqual(expect.arrayContaining(['weights GB', 'activ MB', 'act/layer MB', 'peak GB']));
    expect(Number(at('activ MB'))).toBeGreaterThan(1); // 102.76 MB (256 tokens per rank)
    expect(Number(at('weights GB'))).toBeCloseTo(16.06, 2);
  });
});

describe('parseArgs (in process)', () => {
  const bad = (...argv: string[]) => () => parseArgs(argv);
  it('rejects bad values with the field and its range', () => {
    expect(bad('--ranks', '0')).toThrow(UsageError);
    expect(bad('--ranks', '0')).toThrow(/--ranks: ranks \(ranks\) must be an integer from 1 to 64; got "0"\./);
    expect(bad('--seq', 'lots')).toThrow(/--seq/);
    expect(bad('--seq', '-5')).toThrow(/--seq/);
    expect(bad('--seq', '99999999999')).toThrow(/--seq/);
    expect(bad('--dtype', 'int8')).toThrow(/--dtype.*fp32, bf16, fp16/);
    // "maybe" is not a bool value, so --flash stands alone and "maybe" is a stray argument.
    expect(bad('--flash', 'maybe')).toThrow(/unexpected argument "maybe"/);
    expect(bad('--flash=maybe')).toThrow(/--flash/);
    expect(bad('--heads')).toThrow(/needs a value/);
    expect(bad('seq', '4')).toThrow(/unexpected argument/);
    expect(bad('--heads', '32', '--kv-heads', '5')).toThrow(/--kv-heads.*divide/);
  });
  it('accepts the URL forms and presets, explicit shape flags overriding', () => {
    const { params, json } = parseArgs(['--seq', '1M', '--model', 'gpt3-175b', '--layers', '2', '--json', '--flash', '0', '--zero', '3', '--dp', '4']);
    expect(params.seq).toBe(1048576);
    expect(params.hidden).toBe(12288);
    expect(params.layers).toBe(2);
    expect(params.model).toBe('custom');
    expect(params.flash).toBe(false);
    expect(params.zero).toBe(3);
    expect(json).toBe(true);
  });
});
