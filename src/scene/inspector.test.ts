import { describe, expect, it } from 'vitest';
import { parseParams } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { buildModel } from './context.ts';
import { inspectRank } from './inspector.ts';

describe('rank inspector', () => {
  it('says what a ring rank holds, computes, sends and receives', () => {
    const { params } = parseParams('#strategy=ring&seq=64K&ranks=4');
    const s = buildSchedule(params);
    if (!s.valid) throw new Error(s.reason);
    const model = buildModel(s, params);
    const info = inspectRank({ model, verification: null }, 1, 2);
    expect(info.title).toBe(`rank 2 · step 2 of ${s.steps.length}`);
    expect(info.lines[0]).toBe('Q tokens: 32,768–49,151');
    expect(info.lines[1]).toBe('K/V held: 16,384–32,767');
    expect(info.lines[2]).toMatch(/^computes Q2 · K1ᵀ, no mask needed/);
    expect(info.lines.some((l) => /^sends K,V to r3: /.test(l))).toBe(true);
    expect(info.lines.some((l) => /^receives K,V from r1: /.test(l))).toBe(true);
  });
});
