import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, IMPL_IDS, STRATEGY_IDS, type Params } from './params.ts';
import { buildSchedule } from './strategies/index.ts';
import { computeOf, decodeSchedule, eachTransfer, encodeSchedule, tensorsOf, transferAt, transferablesOf } from './scheduleCodec.ts';
import type { Schedule } from './schedule.ts';

/** The schedule as plain data (decoded steps serialise through toJSON). */
const plain = (s: Schedule): unknown => JSON.parse(JSON.stringify(s));

describe('schedule codec', () => {
  const cases: Params[] = [];
  for (const strategy of STRATEGY_IDS)
    for (const ranks of [1, 2, 3, 4, 6, 8, 16])
      for (const impl of IMPL_IDS) cases.push({ ...DEFAULT_PARAMS, strategy, ranks, impl, seq: 4096 * ranks + (ranks % 3), ulysses: ranks % 2 === 0 ? 2 : 1 });

  it(`decode(encode(s)) equals s for every strategy, rank count and implementation profile (${cases.length} schedules)`, () => {
    let valid = 0;
    for (const params of cases) {
      const schedule = buildSchedule(params);
      const back = decodeSchedule(structuredClone(encodeSchedule(schedule)));
      expect(plain(back), `${params.strategy} ${params.ranks} ${params.impl}`).toEqual(plain(schedule));
      if (schedule.valid) valid++;
    }
    expect(valid).toBeGreaterThan(cases.length / 2);
  });

  it('decodes a step only when it is read, and shares token sets as the builders do', () => {
    const schedule = buildSchedule({ ...DEFAULT_PARAMS, strategy: 'ring', ranks: 8 });
    const transport = encodeSchedule(schedule);
    expect(transferablesOf(transport).length).toBe(3);
    const back = decodeSchedule(transport);
    if (!back.valid || !schedule.valid) throw new Error('ring at 8 ranks is valid');
    const step = back.steps[1];
    if (!step) throw new Error('no step 1');
    const [hop] = step.collectives[0]?.transfers ?? [];
    const rc = step.compute.find((c) => c.rank === hop?.dst);
    // Ring: the K/V a rank receives is the sender's shard, the very set it attends to next step.
    expect(hop && rc).toBeTruthy();
    expect(step.compute).toBe(step.compute); // decoded once
    expect(back.steps.length).toBe(schedule.steps.length);
    expect(back.shards).toEqual(schedule.shards);
  });

  it('computeOf reads one rank of a step, decoded or not, equal to its entry in step.compute', () => {
    for (const strategy of ['zigzag', 'ulysses', 'usp'] as const) {
      const schedule = buildSchedule({ ...DEFAULT_PARAMS, strategy, ranks: 8, ulysses: strategy === 'usp' ? 2 : 1 });
      const back = decodeSchedule(encodeSchedule(schedule));
      const again = decodeSchedule(encodeSchedule(schedule));
      if (!back.valid || !schedule.valid || !again.valid) throw new Error(`${strategy} at 8 ranks is valid`);
      let read = 0;
      for (const [s, step] of back.steps.entries())
        for (let rank = 0; rank < 9; rank++) {
          const expected = schedule.steps[s]?.compute.find((c) => c.rank === rank);
          // Undecoded (only that entry is read), then through the decoded list of the other copy.
          const asData = (c: unknown): unknown => (c === undefined ? undefined : JSON.parse(JSON.stringify(c)));
          expect(asData(computeOf(step, rank)), `${strategy} step ${s} rank ${rank}`).toEqual(asData(expected));
          const decoded = again.steps[s];
          if (decoded) void decoded.compute;
          if (decoded) expect(asData(computeOf(decoded, rank))).toEqual(asData(expected));
          if (expected) read++;
        }
      expect(read).toBeGreaterThan(8);
    }
  });

  it('eachTransfer, transferAt and tensorsOf read the transfers in order, decoded or not, as the plain schedule has them', () => {
    for (const strategy of ['allgather', 'ulysses', 'megatron-sp', 'usp'] as const) {
      const schedule = buildSchedule({ ...DEFAULT_PARAMS, strategy, ranks: 4, ulysses: strategy === 'usp' ? 2 : 1 });
      const lazy = decodeSchedule(encodeSchedule(schedule));
      const decoded = decodeSchedule(encodeSchedule(schedule));
      if (!schedule.valid || !lazy.valid || !decoded.valid) throw new Error(`${strategy} at 4 ranks is valid`);
      let seen = 0;
      for (const [s, step] of schedule.steps.entries())
        for (const [c, collective] of step.collectives.entries()) {
          const expected = collective.transfers.map((t, index) => ({ src: t.src, dst: t.dst, tensor: t.tensor, tokens: t.tokens, index }));
          for (const source of [collective, lazy.steps[s]?.collectives[c], decoded.steps[s]?.collectives[c]]) {
            if (!source) throw new Error('the decoded schedule has the collective');
            if (source === decoded.steps[s]?.collectives[c]) void source.transfers; // read through the decoded list
            const visited: unknown[] = [];
            eachTransfer(source, (t) => visited.push({ ...t }));
            expect(plain(visited as never), `${strategy} step ${s} collective ${c}`).toEqual(plain(expected as never));
            collective.transfers.forEach((t, i) => expect(plain(transferAt(source, i) as never)).toEqual(plain(t as never)));
            expect(transferAt(source, collective.transfers.length)).toBeUndefined();
            expect([...tensorsOf(source)].sort()).toEqual([...new Set(collective.transfers.map((t) => t.tensor))].sort());
          }
          seen += expected.length;
        }
      expect(seen, strategy).toBeGreaterThan(10);
    }
  });

  it('passes an invalid schedule through as it is', () => {
    const invalid = buildSchedule({ ...DEFAULT_PARAMS, strategy: 'ulysses', ranks: 7 });
    expect(invalid.valid).toBe(false);
    expect(decodeSchedule(encodeSchedule(invalid))).toEqual(invalid);
  });
});
