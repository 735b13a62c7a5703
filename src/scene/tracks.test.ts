import { describe, expect, it } from 'vitest';
import { ringFixture } from './fixture.ts';
import { columnOf, deriveTracks, holdingsAt, holdingsTimeline, kvHeadRange, tracksForStep } from './tracks.ts';
import { buildSchedule as buildForTimeline } from '../model/strategies/index.ts';
import { parseParams as parseForTimeline } from '../model/params.ts';
import type { ValidSchedule } from '../model/schedule.ts';

const key = (x: { src: number; dst: number; tensor: string; tokens: unknown; heads: unknown; bytes: number }): string =>
  JSON.stringify([x.src, x.dst, x.tensor, x.tokens, x.heads, x.bytes]);

/** Every Transfer of every step becomes exactly one track, field for field, and nothing else moves. */
export function expectTracksMatchTransfers(schedule: ValidSchedule): void {
  const tracks = deriveTracks(schedule);
  expect(tracks.length).toBe(schedule.steps.length);
  schedule.steps.forEach((step, i) => {
    const expected = step.collectives.flatMap((c) => c.transfers.map(key)).sort();
    const got = (tracks[i] ?? []).map(key).sort();
    expect(got).toEqual(expected);
    for (const t of tracks[i] ?? []) {
      expect(t.step).toBe(i);
      const c = step.collectives[t.collective];
      expect(c?.kind).toBe(t.kind);
      expect(c?.group).toContain(t.src);
      expect(c?.group).toContain(t.dst);
      expect(t.local).toBe(t.src === t.dst);
    }
  });
}

describe('tracks from the schedule', () => {
  it('move exactly the blocks that the transfers name, to the right ranks (ring fixture, P = 1..8)', () => {
    for (const P of [1, 2, 3, 4, 8]) expectTracksMatchTransfers(ringFixture(P, 1024));
  });

  it('a ring step sends rank r’s current K/V block to rank r+1', () => {
    const s = ringFixture(4, 400);
    const step1 = tracksForStep(s, 1).filter((t) => t.tensor === 'K');
    expect(step1.map((t) => [t.src, t.dst, t.tokens[0]?.start])).toEqual([
      [0, 1, 300],
      [1, 2, 0],
      [2, 3, 100],
      [3, 0, 200],
    ]);
    // The block that arrives is the one the destination computes with in the next step.
    for (const t of step1) {
      const next = s.steps[2]?.compute.find((c) => c.rank === t.dst);
      expect(next?.kv).toEqual(t.tokens);
    }
  });

  it('backward sends dK/dV home: the last hop ends at the rank that owns the block', () => {
    const s = ringFixture(4, 400);
    const last = tracksForStep(s, s.steps.length - 1);
    expect(last.length).toBe(8);
    for (const t of last) {
      const owner = s.shards.find((sh) => sh.tokens[0]?.start === t.tokens[0]?.start);
      expect(owner?.rank).toBe(t.dst);
      expect(['dK', 'dV']).toContain(t.tensor);
    }
  });

  it('columns: query side, key/value side, output side', () => {
    expect(columnOf('Q')).toBe('q');
    expect(columnOf('X')).toBe('q');
    expect(columnOf('dK')).toBe('kv');
    expect(columnOf('V')).toBe('kv');
    expect(columnOf('O')).toBe('o');
    expect(columnOf('loss')).toBe('o');
  });

  it('holdings follow the compute of the step, and idle ranks are marked', () => {
    const s = ringFixture(4, 400);
    const h = holdingsAt(s, 2, { heads: 8, kvHeads: 2 });
    expect(h.length).toBe(12);
    const kv1 = h.find((x) => x.rank === 1 && x.column === 'kv');
    expect(kv1?.tokens).toEqual([{ start: 300, count: 100, stride: 1 }]);
    expect(kv1?.heads).toEqual({ start: 0, end: 2 });
    // Contiguous ring, step 2: ranks 0 and 1 hold later blocks, fully masked.
    expect(h.filter((x) => x.column === 'q' && x.idle).map((x) => x.rank)).toEqual([0, 1]);
    // Loss step (no compute): ranks keep what they held last.
    const lossStep = s.steps.findIndex((x) => x.phase === 'loss');
    expect(holdingsAt(s, lossStep, { heads: 8, kvHeads: 2 }).every((x) => !x.idle)).toBe(true);
  });

  it('GQA head ranges map query heads onto K/V heads', () => {
    expect(kvHeadRange({ start: 0, end: 8 }, { heads: 32, kvHeads: 8 })).toEqual({ start: 0, end: 2 });
    expect(kvHeadRange({ start: 8, end: 16 }, { heads: 32, kvHeads: 8 })).toEqual({ start: 2, end: 4 });
    expect(kvHeadRange({ start: 1, end: 2 }, { heads: 32, kvHeads: 8 })).toEqual({ start: 0, end: 1 });
  });
});

import { softmaxRows } from './softmax.ts';
describe('softmax panel rows', () => {
  it('read the reference trace shape { rank, token, head, points } and compute the rescale factor', () => {
    const s = ringFixture(4, 400);
    const trace = { rank: 3, token: 399, head: 0, points: [{ step: 0, m: 1, l: 2, acc: [0.5, 0.25] }, { step: 1, m: 2, l: 3, acc: [1, 1] }] };
    const rows = softmaxRows(s, 3, trace);
    expect(rows.length).toBe(4);
    expect(rows[0]?.m).toBe(1);
    expect(rows[1]?.scale).toBeCloseTo(Math.exp(-1));
    expect(rows[2]?.m).toBeNull();
    // Another rank's trace is not shown as this rank's.
    expect(softmaxRows(s, 2, trace).every((r) => r.m === null)).toBe(true);
  });
});

describe('holdingsTimeline', () => {
  it('equals holdingsAt at every step', () => {
    for (const hash of ['strategy=ring&ranks=4', 'strategy=zigzag&ranks=8', 'strategy=ulysses&ranks=4', 'strategy=usp&ranks=4&ulysses=2']) {
      const params = parseForTimeline(`#${hash}`).params;
      const s = buildForTimeline(params);
      if (!s.valid) continue;
      const counts = { heads: params.heads, kvHeads: params.kvHeads };
      const all = holdingsTimeline(s, counts);
      expect(all.length).toBe(s.steps.length);
      s.steps.forEach((_, i) => expect(all[i]).toEqual(holdingsAt(s, i, counts)));
    }
  });
});
