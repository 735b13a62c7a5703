import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareStrategies, comparisonToJson } from '../model/compare.ts';
import { fit } from '../model/fit.ts';
import { parseArgs } from './plan.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('../model/fixtures/qwen2.5-7b.config.json', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync('npx', ['tsx', 'scripts/cli.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('compare and fit CLI (spawned)', () => {
  it('compare --json is { params, rows } with the contract fields, equal to compareStrategies', () => {
    const args = ['--seq', '256k', '--ranks', '16', '--config', fixture];
    const r = cli('compare', ...args, '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { params: Record<string, unknown>; rows: Record<string, unknown>[] };
    expect(j.params).toMatchObject({ seq: 262144, ranks: 16, hidden: 3584, heads: 28, kvHeads: 4, model: 'custom' });
    expect(j.rows).toHaveLength(7);
    for (const row of j.rows) {
      for (const k of ['strategy', 'valid', 'peakBytes', 'kvWorkingSetBytes', 'commBytesPerLayer', 'exposedSecondsPerLayer', 'steps', 'balance', 'maxSeqThatFits']) expect(row, k).toHaveProperty(k);
      if (!row.valid) expect(typeof row.reason).toBe('string');
    }
    const { params } = parseArgs(args);
    expect(j).toEqual(JSON.parse(JSON.stringify(comparisonToJson(compareStrategies(params)))));
  });

  it('compare --md and --csv print the table; two formats at once is a usage error', () => {
    const md = cli('compare', '--ranks', '4', '--md');
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^\| strategy \| valid \|/m);
    const csv = cli('compare', '--ranks', '4', '--csv');
    expect(csv.code).toBe(0);
    expect(csv.stdout.trim().split('\n')).toHaveLength(8);
    expect(cli('compare', '--md', '--csv').code).toBe(2);
  });

  it('fit --ranks gives the longest seq, fit --seq the fewest ranks', () => {
    const a = cli('fit', '--strategy', 'zigzag', '--ranks', '8', '--json');
    expect(a.code, a.stderr).toBe(0);
    const ja = JSON.parse(a.stdout) as Record<string, unknown>;
    expect(ja).toEqual(JSON.parse(JSON.stringify(fit(parseArgs(['--strategy', 'zigzag', '--ranks', '8']).params, 'maxSeq'))));
    expect(ja).toMatchObject({ strategy: 'zigzag', ranks: 8, fits: true });
    expect(ja.seq).toBe(ja.maxSeq);
    const b = cli('fit', '--strategy', 'ring', '--seq', '1M', '--json');
    expect(b.code, b.stderr).toBe(0);
    const jb = JSON.parse(b.stdout) as Record<string, unknown>;
    expect(jb).toMatchObject({ strategy: 'ring', seq: 1048576, fits: true });
    expect(jb.ranks).toBe(jb.minRanks);
    expect(typeof jb.peakBytes).toBe('number');
    expect(jb.capacityBytes).toBe(80e9);
  });

  it('fit needs exactly one of --ranks and --seq; a bad --config is a usage error naming the file', () => {
    expect(cli('fit', '--strategy', 'ring').code).toBe(2);
    expect(cli('fit', '--strategy', 'ring', '--ranks', '8', '--seq', '1M').code).toBe(2);
    const bad = cli('plan', '--config', '/nonexistent/config.json');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cannot read \/nonexistent\/config.json/);
  });
});
