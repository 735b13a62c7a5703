import { describe, expect, it } from 'vitest';
import { applyModelPreset, DEFAULT_PARAMS, type Params, type StrategyId, STRATEGY_IDS } from './params.ts';
import { plan, planToJson } from './plan.ts';
import { allReduceSentBytes, totalSentBytes, ulyssesPerLinkElementsPaper, megatronSpPerLinkElementsPaper } from './comm.ts';
import { korthikantiRow } from './memory.ts';

const base = (over: Partial<Params> = {}): Params => ({ ...DEFAULT_PARAMS, ...over });
/** A multi-head (not GQA) shape, as the papers' statements assume. */
const MHA: Partial<Params> = { model: 'custom', layers: 4, hidden: 4096, heads: 32, kvHeads: 32, headDim: 128, vocab: 32000, ffnHidden: 16384 };

describe('communication from the real schedules', () => {
  for (const P of [2, 4, 8, 16]) {
    for (const seq of [65536, 65536 + 37]) {
      it(`ring and all-gather move the same total K/V bytes (P=${P}, s=${seq})`, () => {
        const ring = plan(base({ strategy: 'ring', ranks: P, seq }));
        const ag = plan(base({ strategy: 'allgather', ranks: P, seq }));
        const total = totalSentBytes(ring.schedule, ['K', 'V'], 'forward');
        expect(total).toBe(totalSentBytes(ag.schedule, ['K', 'V'], 'forward'));
        // (P−1)·2·s·h_kv·e summed over ranks (reference doc; each block visits P−1 other ranks).
        expect(total).toBe((P - 1) * 2 * seq * 8 * 128 * 2);
      });
    }
  }

  it('Ulysses per link ≈ 4Nh/P vs Megatron SP 4Nh (Jacobs et al. 2023 §3.2): ratio P', () => {
    const seq = 262144;
    for (const P of [4, 8]) {
      const u = plan(base({ ...MHA, strategy: 'ulysses', ranks: P, seq }));
      const m = plan(base({ ...MHA, strategy: 'megatron-sp', ranks: P, seq }));
      const e = 2;
      const uFwd = u.perRank[0]?.commBytesPerLayer.forward ?? 0;
      const mFwd = m.perRank[0]?.commBytesPerLayer.forward ?? 0;
      // The paper's per-link figures, times the (P−1)/P a rank keeps for itself.
      expect(uFwd).toBe(ulyssesPerLinkElementsPaper(seq, 4096, P) * e * ((P - 1) / P));
      expect(mFwd).toBe(megatronSpPerLinkElementsPaper(seq, 4096) * e * ((P - 1) / P));
      expect(mFwd / uFwd).toBe(P);
    }
  });

  it('Megatron SP: 4 all-gathers + 4 reduce-scatters per layer, the bandwidth of TP’s 4 all-reduces (Korthikanti et al. 2022 §4.2.2)', () => {
    const seq = 8192;
    const t = 8;
    const p = plan(base({ ...MHA, strategy: 'megatron-sp', ranks: t, seq }));
    for (const r of p.perRank) {
      expect(r.collectivesByKind['all-gather'].forward + r.collectivesByKind['all-gather'].backward).toBe(4);
      expect(r.collectivesByKind['reduce-scatter'].forward + r.collectivesByKind['reduce-scatter'].backward).toBe(4);
      const sbhe = seq * 1 * 4096 * 2;
      expect(r.commBytesPerLayer.forward + r.commBytesPerLayer.backward).toBe(4 * allReduceSentBytes(sbhe, t));
    }
  });

  it('ring backward moves about twice the forward (K,V and dK,dV travel)', () => {
    const p = plan(base({ strategy: 'ring', ranks: 8 }));
    const r = p.perRank[3];
    expect(r).toBeDefined();
    if (r) expect(r.commBytesPerLayer.backward / r.commBytesPerLayer.forward).toBeCloseTo(15 / 7, 6);
  });
});

describe('activations: Korthikanti Table 2 through plan()', () => {
  it('Megatron SP, flash off, no recompute: stored activations + scores per layer = the TP + SP row', () => {
    const s = 2048;
    const t = 8;
    const gpt3 = applyModelPreset(base({ strategy: 'megatron-sp', ranks: t, seq: s, flash: false, recompute: 'none' }), 'gpt3-175b');
    const p = plan(gpt3);
    const row = korthikantiRow({ s, b: 1, h: 12288, a: 96, t, sp: true, recompute: 'none' });
    expect(row.total).toBe(s * 12288 * (34 / t + (5 * 96 * s) / (12288 * t)));
    for (const r of p.perRank) {
      expect(r.memory.activationsPerLayer + r.memory.scoresPerLayer).toBe(row.total);
      expect(r.memory.scores).toBe(96 * r.memory.scoresPerLayer);
    }
  });

  it('Megatron SP with selective recompute: s·b·h·34/t per layer; flash removes the score term', () => {
    const p = plan(applyModelPreset(base({ strategy: 'megatron-sp', ranks: 8, seq: 2048, recompute: 'selective' }), 'gpt3-175b'));
    expect(p.perRank[0]?.memory.activationsPerLayer).toBe((2048 * 12288 * 34) / 8);
    expect(p.perRank[0]?.memory.scores).toBe(0);
  });

  it('CP strategies: the table on the local tokens s/P', () => {
    for (const strategy of ['ring', 'zigzag', 'striped', 'allgather', 'ulysses', 'usp'] as const) {
      const p = plan(base({ strategy, ranks: 8, seq: 131072, recompute: 'selective' }));
      expect(p.valid).toBe(true);
      for (const r of p.perRank) expect(r.memory.activationsPerLayer).toBe(34 * (131072 / 8) * 4096);
    }
  });

  it('full recompute stores 2·s·b·h per layer', () => {
    const p = plan(base({ strategy: 'ring', ranks: 8, seq: 131072, recompute: 'full' }));
    expect(p.perRank[0]?.memory.activationsPerLayer).toBe(2 * (131072 / 8) * 4096);
  });
});

describe('memory per rank', () => {
  const kvPerToken = 8 * 128 * 2; // Llama 3 8B: 8 K/V heads × 128 × bf16, one tensor
  it('K/V working set: all-gather holds the full K/V (+ dK/dV in backward), ring 2–3 blocks, Ulysses full sequence for its heads', () => {
    const seq = 131072;
    const P = 8;
    const ag = plan(base({ strategy: 'allgather', ranks: P, seq }));
    const ring = plan(base({ strategy: 'ring', ranks: P, seq }));
    const uly = plan(base({ strategy: 'ulysses', ranks: P, seq }));
    const full = 2 * seq * kvPerToken; // 2·s·b·h_kv·e
    expect(ag.perRank[0]?.memory.kvWorkingSet).toBe(2 * full);
    const blockKV = 2 * (seq / P) * kvPerToken;
    expect(ring.perRank[0]?.memory.kvWorkingSet).toBe(3 * blockKV);
    expect(uly.perRank[0]?.memory.kvWorkingSet).toBe(2 * (2 * seq * 1 * 128 * 2)); // 8 K/V heads / 8 ranks = 1 head
  });

  it('peak is the max over steps of what is resident, not the sum of category maxima', () => {
    for (const strategy of STRATEGY_IDS) {
      const p = plan(base({ strategy, ranks: 8, seq: 65536 }));
      if (!p.valid) continue;
      for (const r of p.perRank) {
        expect(r.memoryByStep.length).toBe(p.schedule.valid ? p.schedule.steps.length : 0);
        expect(r.memory.peak).toBe(Math.max(...r.memoryByStep));
        const m = r.memory;
        const sumMax = m.weights + m.grads + m.optimizer + m.activations + m.kvWorkingSet + m.scores + m.logits;
        expect(m.peak).toBeLessThanOrEqual(sumMax);
        const a = m.atPeak;
        expect(Math.ceil(a.weights + a.grads + a.optimizer + a.activations + a.kvWorkingSet + a.scores + a.logits)).toBe(m.peak);
      }
    }
  });

  it('per-rank memory falls as ranks grow; the baseline (no SP) is the P = 1 plan', () => {
    const peak = (ranks: number) => plan(base({ strategy: 'zigzag', ranks, seq: 262144 })).perRank[0]?.memory.peak ?? 0;
    expect(peak(16)).toBeLessThan(peak(8));
    expect(peak(8)).toBeLessThan(peak(4));
    const p = plan(base({ strategy: 'ring', ranks: 8, seq: 262144 }));
    const one = plan(base({ strategy: 'ring', ranks: 1, seq: 262144 }));
    expect(p.baseline.memory.peak).toBe(one.perRank[0]?.memory.peak);
    expect(p.baseline.memory.peak).toBeGreaterThan(p.perRank[0]?.memory.peak ?? Infinity);
  });

  it('logits: s/P · b · vocab in fp32', () => {
    const p = plan(base({ strategy: 'ring', ranks: 8, seq: 131072 }));
    expect(p.perRank[0]?.memory.logits).toBe((131072 / 8) * 128256 * 4);
  });

  it('TP alongside CP splits weights, K/V and communication by tp', () => {
    const t1 = plan(base({ strategy: 'ring', ranks: 8, tp: 1 }));
    const t2 = plan(base({ strategy: 'ring', ranks: 8, tp: 2 }));
    const a = t1.perRank[0];
    const b = t2.perRank[0];
    expect(a && b).toBeTruthy();
    if (!a || !b) return;
    expect(b.memory.kvWorkingSet).toBe(a.memory.kvWorkingSet / 2);
    expect(b.commBytesPerLayer.forward).toBe(a.commBytesPerLayer.forward / 2);
    expect(b.memory.weights).toBeLessThan(a.memory.weights * 0.51);
  });

  it('OOM against the GPU capacity', () => {
    expect(plan(applyModelPreset(base({ strategy: 'ring', ranks: 8, seq: 1048576 }), 'gpt3-175b')).oom).toBe(true);
    const small = plan(base({ ...MHA, strategy: 'zigzag', ranks: 8, seq: 8192, hidden: 1024, heads: 8, kvHeads: 8, headDim: 128, ffnHidden: 4096 }));
    expect(small.oom).toBe(false);
    expect(small.perRank.every((r) => !r.oom)).toBe(true);
  });
});

describe('causal work and balance', () => {
  it('per-rank FLOPs sum to the causal total: s(s+1)/2 pairs × 4·d × heads (≈ 2·s²·d·heads)', () => {
    for (const strategy of STRATEGY_IDS) {
      const seq = 65536 + 3;
      const p = plan(base({ strategy, ranks: 8, seq }));
      if (!p.valid) continue;
      const total = p.perRank.reduce((a, r) => a + r.causalFlops, 0);
      expect(total).toBe(((seq * (seq + 1)) / 2) * 4 * 128 * 32);
    }
  });

  it('zigzag and striped balance causal work; contiguous ring does not', () => {
    const imbalance = (strategy: StrategyId) => plan(base({ strategy, ranks: 8, seq: 131072 })).balance.maxOverMean;
    expect(imbalance('zigzag')).toBeLessThan(1.01);
    expect(imbalance('striped')).toBeLessThan(1.01);
    // Contiguous: rank P−1 does (2P−1)/P of the mean: 15/8 = 1.875 at P = 8.
    expect(imbalance('ring')).toBeCloseTo(1.875, 2);
  });
});

describe('timeline', () => {
  it('ring across two H100 nodes: the overlap condition uses the NIC bandwidth and flips with the block size', () => {
    const big = plan(base({ strategy: 'ring', ranks: 16, seq: 131072 }));
    const o = big.timeline.ringOverlap;
    expect(o.applies).toBe(true);
    expect(o.link).toBe('inter-node');
    expect(o.minBlockTokens).toBeCloseTo((989e12 / 50e9) * (8 / 32), 6);
    expect(o.satisfied).toBe(true);
    const small = plan(base({ strategy: 'ring', ranks: 16, seq: 16384 }));
    expect(small.timeline.ringOverlap.satisfied).toBe(false);
    expect(small.timeline.exposedPerLayer).toBeGreaterThan(0);
  });

  it('all-gather communication is exposed; a ring inside a node hides it', () => {
    const ag = plan(base({ strategy: 'allgather', ranks: 8, seq: 131072 }));
    const zz = plan(base({ strategy: 'zigzag', ranks: 8, seq: 131072 }));
    expect(ag.timeline.exposedPerLayer).toBeGreaterThan(0);
    expect(zz.timeline.exposedPerLayer).toBeLessThan(ag.timeline.exposedPerLayer);
    for (const s of zz.timeline.steps) for (const r of s.perRank) expect(r.exposed).toBeGreaterThanOrEqual(0);
  });
});

describe('invalid params and the JSON contract', () => {
  it('Ulysses with more ranks than heads allow: valid false and a reason, no throw', () => {
    const p = plan(base({ strategy: 'ulysses', ranks: 64 }));
    expect(p.valid).toBe(false);
    expect(p.reason).toMatch(/heads/);
    expect(planToJson(p)).toMatchObject({ strategy: 'ulysses', ranks: 64, valid: false, steps: 0, perRank: [] });
  });

  it('planToJson has the contract fields in bytes', () => {
    const j = planToJson(plan(base())) as { perRank: Record<string, unknown>[] };
    for (const k of ['strategy', 'ranks', 'seq', 'valid', 'steps', 'perRank']) expect(j).toHaveProperty(k);
    const r = j.perRank[0] ?? {};
    expect(Object.keys(r.memory as object)).toEqual(['weights', 'grads', 'optimizer', 'activations', 'activationsPerLayer', 'kvWorkingSet', 'scores', 'logits', 'peak']);
    expect(r).toHaveProperty('commBytesPerLayer.forward');
    expect(r).toHaveProperty('commBytesPerLayer.backward');
    expect(r).toHaveProperty('causalFlops');
    for (const v of Object.values(r.memory as Record<string, number>)) expect(Number.isInteger(v)).toBe(true);
  });
});
