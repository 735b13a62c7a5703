import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, STRATEGY_IDS } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { buildWorkMatrix } from './matrix.ts';
import { matrixCells } from './layout.ts';
import { packWorkMatrix, unpackWorkMatrix } from './matrixTransport.ts';

describe('work matrix transport', () => {
  it('the unpacked matrix equals the one built on the page, for every strategy and odd rank counts', () => {
    let checked = 0;
    for (const strategy of STRATEGY_IDS)
      for (const ranks of [1, 3, 4, 8]) {
        const schedule = buildSchedule({ ...DEFAULT_PARAMS, strategy, ranks, seq: 3000 * ranks + 7 });
        if (!schedule.valid) continue;
        const direct = buildWorkMatrix(schedule, matrixCells(schedule.seq, schedule.ranks));
        const moved = unpackWorkMatrix(structuredClone(packWorkMatrix(schedule)));
        const what = `${strategy} × ${ranks}`;
        expect(moved.n, what).toBe(direct.n);
        expect(moved.steps, what).toEqual(direct.steps);
        expect(moved.total, what).toEqual(direct.total);
        expect(moved.owner, what).toEqual(direct.owner);
        expect(moved.sharers, what).toEqual(direct.sharers);
        expect(moved.perRank, what).toEqual(direct.perRank);
        expect(moved.first, what).toEqual(direct.first);
        for (let f = -1; f <= direct.steps.length; f++) expect(moved.cumAt(f), `${what} f=${f}`).toEqual(direct.cumAt(f));
        checked++;
      }
    expect(checked).toBeGreaterThan(20);
  });
});
