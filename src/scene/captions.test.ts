import { describe, expect, it } from 'vitest';
import { buildSchedule } from '../model/strategies/index.ts';
import { parseParams } from '../model/params.ts';
import { STRATEGY_IDS } from '../model/params.ts';
import { shortCaption } from '../model/strategies/common.ts';
import { roundText } from './captions.ts';

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

describe('the big counter on a slide', () => {
  it('reads "ROUND k / n" within the phase, 1-based, with the URL step numbering in its title', () => {
    const s = buildSchedule(parseParams('#strategy=ring&seq=64K&ranks=8').params);
    if (!s.valid) throw new Error(s.reason);
    expect(roundText(s, 2)).toEqual({ phase: 'forward', round: 'ROUND 3 / 8', title: `forward round 3 of 8 · step 3 of ${s.steps.length}` });
    const firstBackward = s.steps.findIndex((st) => st.phase === 'backward');
    expect(roundText(s, firstBackward).round).toMatch(/^ROUND 1 \/ \d+$/);
    expect(roundText(s, firstBackward).title).toContain(`step ${firstBackward + 1} of ${s.steps.length}`);
    const loss = s.steps.findIndex((st) => st.phase === 'loss');
    if (loss >= 0 && s.steps.filter((st) => st.phase === 'loss').length === 1) expect(roundText(s, loss)).toMatchObject({ phase: '', round: 'LOSS' });
  });
});
