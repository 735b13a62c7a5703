import { describe, expect, it } from 'vitest';
import { parseParams } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { buildModel } from './context.ts';
import { inspectRank, memoryLines } from './inspector.ts';
import { plan } from '../model/plan.ts';
import { formatBytes } from '../model/format.ts';

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

describe('rank inspector memory', () => {
  it('reads the rank’s modelled memory at this step and at its busiest step from the plan', () => {
    const { params } = parseParams('#strategy=ring&seq=64K&ranks=4');
    const p = plan(params);
    const s = p.schedule;
    if (!s.valid) throw new Error(s.reason);
    const model = buildModel(s, params);
    const r2 = p.perRank[2];
    if (!r2) throw new Error('no rank 2');
    const info = inspectRank({ model, verification: null, plan: p }, 1, 2);
    const now = info.lines.find((l) => l.startsWith('memory at this step: '));
    expect(now).toContain(formatBytes(r2.memoryByStep[1] as number));
    expect(now).toContain(formatBytes(p.gpu.memoryBytes));
    const busiest = info.lines.find((l) => l.startsWith('busiest step '));
    expect(busiest).toBe(`busiest step ${r2.memory.peakStep + 1}: ${formatBytes(r2.memory.peak)} = ${memoryLines(p, s, 1, 2)[1]?.split(' = ')[1]}`);
    expect(busiest).toContain(`weights ${formatBytes(r2.memory.atPeak.weights)}`);
    // Another schedule's plan (a stale one) says nothing rather than the wrong rank's numbers.
    expect(memoryLines(plan({ ...params, ranks: 8 }), s, 1, 2)).toEqual([]);
  });
});
