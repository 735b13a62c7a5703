import { describe, expect, it } from 'vitest';
import { buildSchedule } from '../model/strategies/index.ts';
import { parseParams } from '../model/params.ts';
import { STRATEGY_IDS } from '../model/params.ts';
import { shortCaption } from '../model/strategies/common.ts';

describe('one-line captions for slides', () => {
  it('every step of every strategy has a short caption of one line', () => {
    for (const strategy of STRATEGY_IDS) {
      for (const ranks of [1, 2, 8]) {
        const s = buildSchedule(parseParams(`#strategy=${strategy}&seq=64K&ranks=${ranks}`).params);
        if (!s.valid) continue;
        for (const step of s.steps) {
          expect(step.short, `${strategy} P=${ranks} step ${step.index}`).toBeTruthy();
          expect(step.short?.length ?? 0).toBeLessThanOrEqual(110);
          expect(step.short).not.toMatch(/\n/);
          expect(step.short?.length ?? 0).toBeLessThan(step.caption.length);
        }
      }
    }
  });

  it('names what moves and what the ranks compute meanwhile', () => {
    const s = buildSchedule(parseParams('#strategy=ring&seq=64K&ranks=4').params);
    if (!s.valid) throw new Error(s.reason);
    expect(s.steps[0]?.short).toBe('Send K,V to next rank · each rank attends to the K/V it holds');
    expect(shortCaption({ phase: 'loss', collectives: [], compute: [] })).toMatch(/^Each rank: cross-entropy/);
  });
});
