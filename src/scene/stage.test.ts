import { describe, expect, it } from 'vitest';
import { parseParams } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { displayBlockTokens } from './layout.ts';
import { drawnUnit, legendLayout } from './stage.ts';

describe('the legend names the drawn unit', () => {
  it('at 64 ranks and 1M tokens, zigzag chunks of 8,192 tokens are named as chunks, not as 65,536-token blocks', () => {
    const s = buildSchedule(parseParams('#strategy=zigzag&seq=1M&ranks=64').params);
    if (!s.valid) throw new Error(s.reason);
    const block = displayBlockTokens(s.seq, s.ranks);
    expect(block).toBe(65536);
    const unit = drawnUnit(s.shards.map((x) => x.tokens), block);
    expect(unit).toEqual({ noun: 'chunk', tokens: s.seq / (2 * 64) });
    expect(legendLayout({ x: 0, y: 0, w: 900, h: 20 }, s.seq, unit.tokens, unit.noun).block).toBe('1 chunk = 8,192 tokens');
  });

  it('keeps "1 block" where the shards are longer than a block (8 ranks ring) or strided (striped)', () => {
    for (const h of ['#strategy=ring&seq=128K&ranks=8', '#strategy=striped&seq=128K&ranks=8']) {
      const s = buildSchedule(parseParams(h).params);
      if (!s.valid) throw new Error(s.reason);
      const block = displayBlockTokens(s.seq, s.ranks);
      expect(drawnUnit(s.shards.map((x) => x.tokens), block)).toEqual({ noun: 'block', tokens: block });
    }
  });
});
