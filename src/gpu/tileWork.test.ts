// Tile work: the load-independent figure the benchmark prints beside its timings.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, type Params } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { buildExecPlan } from '../model/execution.ts';
import { planWork, unshardedWork } from './tileWork.ts';

const tiles = { wgQ: 64, bk: 32 };
const plan = (strategy: Params['strategy'], seq: number) => {
  const p: Params = { ...DEFAULT_PARAMS, strategy, ranks: 8, ulysses: 2, heads: 8, kvHeads: 8, headDim: 64, seq, execSeq: seq };
  return buildExecPlan(buildSchedule(p), p);
};

describe('tile work', () => {
  it('unsharded: about half the s² pairs (causal skipping) plus the diagonal tiles', () => {
    const w = unshardedWork(1024, 1, tiles);
    expect(w.pairs / ((1024 * 1024) / 2)).toBeGreaterThan(1);
    expect(w.pairs / ((1024 * 1024) / 2)).toBeLessThan(1.1);
    expect(w.workgroups).toBe(16);
  });
  it('ring, zigzag, all-gather, Ulysses and USP do the unsharded work at P = 8 with power-of-two tiles; striped pays for its interleaved diagonal', () => {
    const full = unshardedWork(2048, 8, tiles).pairs;
    for (const s of ['ring', 'zigzag', 'allgather', 'ulysses', 'usp', 'megatron-sp'] as const) expect(planWork(plan(s, 2048), tiles).pairs / full, s).toBeCloseTo(1, 5);
    const striped = planWork(plan('striped', 2048), tiles).pairs / full;
    expect(striped).toBeGreaterThan(1);
    expect(striped).toBeLessThan(1.3);
  });
});
