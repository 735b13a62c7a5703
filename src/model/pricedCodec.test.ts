import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, STRATEGY_IDS, type Params } from './params.ts';
import { plan } from './plan.ts';
import { decodePriced, encodePriced, memoryAtStep, pricedTransferables, type PricedPlan } from './pricedCodec.ts';

/** As plain data: the decoded timeline's steps serialise through toJSON. */
const plain = (p: PricedPlan): unknown => JSON.parse(JSON.stringify(p));
const priced = (params: Params): PricedPlan => {
  const { schedule: _schedule, ...rest } = plan(params);
  return rest;
};

describe('priced plan codec', () => {
  const cases: Params[] = [];
  for (const strategy of STRATEGY_IDS)
    for (const ranks of [1, 3, 8, 16]) cases.push({ ...DEFAULT_PARAMS, strategy, ranks, seq: 8192 * ranks + (ranks % 3), ulysses: ranks % 2 === 0 ? 2 : 1 });

  it(`decode(encode(p)) equals p for every strategy and rank count, through a transfer (${cases.length} plans)`, () => {
    let withTimeline = 0;
    for (const params of cases) {
      const original = priced(params);
      const encoded = encodePriced(original);
      const moved = structuredClone(encoded, { transfer: pricedTransferables(encoded) });
      expect(encoded.stepTimes.byteLength, 'transferred, not copied').toBe(0);
      expect(plain(decodePriced(moved)), `${params.strategy} ${params.ranks}`).toEqual(plain(original));
      if (original.timeline.steps.length > 1) withTimeline++;
    }
    expect(withTimeline).toBeGreaterThan(cases.length / 2);
  });

  it('keeps the per-rank step times out of the object graph until a step is read', () => {
    const original = priced({ ...DEFAULT_PARAMS, strategy: 'zigzag', ranks: 64 });
    const encoded = encodePriced(original);
    // Only shells cross as objects, one per step and one per rank: ~83 kB of the plan's ~1.1 MB as JSON.
    expect(JSON.stringify(encoded.head).length).toBeLessThan(JSON.stringify(original).length / 10);
    const decoded = decodePriced(encoded);
    const step = decoded.timeline.steps[3];
    expect(step?.perRank).toBe(step?.perRank); // made once
    expect(step?.perRank).toEqual(original.timeline.steps[3]?.perRank);
    expect(decoded.perRank[5]?.memoryByStep).toEqual(original.perRank[5]?.memoryByStep);
    expect(decoded.perRank[5]?.flopsByStep).toEqual(original.perRank[5]?.flopsByStep);
    expect(decoded.perRank[5]?.memoryByStep).toBe(decoded.perRank[5]?.memoryByStep); // made once
  });

  it('memoryAtStep reads one step of a rank, decoded or not, clamped to the last step', () => {
    for (const strategy of ['ring', 'ulysses'] as const) {
      const original = priced({ ...DEFAULT_PARAMS, strategy, ranks: 8 });
      const lazy = decodePriced(encodePriced(original));
      const decoded = decodePriced(encodePriced(original));
      original.perRank.forEach((rank, r) => {
        const steps = rank.memoryByStep.length;
        expect(steps).toBeGreaterThan(3);
        void decoded.perRank[r]?.memoryByStep; // read through the copied-out series
        for (const step of [0, 1, steps - 1, steps, steps + 5]) {
          const expected = rank.memoryByStep[Math.min(step, steps - 1)];
          expect(memoryAtStep(rank, step), `${strategy} rank ${r} step ${step}`).toBe(expected);
          expect(memoryAtStep(lazy.perRank[r] as typeof rank, step)).toBe(expected);
          expect(memoryAtStep(decoded.perRank[r] as typeof rank, step)).toBe(expected);
        }
      });
    }
  });
});
