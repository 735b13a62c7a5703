import { describe, expect, it } from 'vitest';
import {
  allGatherSentBytes,
  allReduceSentBytes,
  allToAllSentBytes,
  commPerRank,
  megatronSpPerLinkElementsPaper,
  reduceScatterSentBytes,
  totalSentBytes,
  ulyssesPerLinkElementsPaper,
} from './comm.ts';
import type { Collective, Step, Transfer, ValidSchedule } from './schedule.ts';
import { tilesFor } from './schedule.ts';
import { GPU_PRESETS, type GpuPreset } from './params.ts';
import { collectiveSeconds, ringMinBlockTokens } from './timeline.ts';

// The real strategies are priced in plan.test.ts; these fixtures pin the accounting itself.
const S = 4096;
const P = 4;
const KV_BYTES_PER_TOKEN = 8 * 128 * 2; // 8 K/V heads × d 128 × bf16, one of K or V
const block = (r: number) => ({ start: r * (S / P), count: S / P, stride: 1 });
const heads = { start: 0, end: 8 };

function kvTransfers(src: number, dst: number, r: number): Transfer[] {
  return (['K', 'V'] as const).map((tensor) => ({ src, dst, tensor, tokens: [block(r)], heads, bytes: (S / P) * KV_BYTES_PER_TOKEN }));
}

function fixture(kind: 'ring' | 'allgather'): ValidSchedule {
  const steps: Step[] = [];
  const shards = Array.from({ length: P }, (_, r) => ({ rank: r, tokens: [block(r)], node: 0 }));
  if (kind === 'ring') {
    for (let k = 0; k < P; k++) {
      const collectives: Collective[] =
        k < P - 1
          ? [{ kind: 'send-recv', group: [...Array(P).keys()], label: 'rotate K,V', transfers: [...Array(P).keys()].flatMap((r) => kvTransfers(r, (r + 1) % P, (r - k + P) % P)) }]
          : [];
      const compute = [...Array(P).keys()].map((r) => {
        const kv = [block((r - k + P) % P)];
        return { rank: r, q: [block(r)], kv, heads: { start: 0, end: 32 }, tiles: tilesFor([block(r)], kv) };
      });
      steps.push({ index: k, phase: 'forward', caption: '', collectives, compute });
    }
  } else {
    const transfers = [...Array(P).keys()].flatMap((src) => [...Array(P).keys()].filter((d) => d !== src).flatMap((dst) => kvTransfers(src, dst, src)));
    steps.push({ index: 0, phase: 'forward', caption: '', collectives: [{ kind: 'all-gather', group: [...Array(P).keys()], label: 'all-gather K,V', transfers }], compute: [] });
  }
  return { valid: true, strategy: kind, ranks: P, seq: S, shards, steps, loss: { labelled: [] } };
}

describe('closed forms', () => {
  it('Korthikanti: TP+SP’s 4 all-gathers + 4 reduce-scatters = TP’s 4 all-reduces in bandwidth', () => {
    for (const t of [2, 4, 8, 64]) {
      const M = 2048 * 12288 * 2; // s·b·h·2 bytes
      expect(4 * allGatherSentBytes(M, t) + 4 * reduceScatterSentBytes(M, t)).toBeCloseTo(4 * allReduceSentBytes(M, t), 3);
    }
  });

  it('Jacobs et al.: Ulysses 4Nh/P per link vs Megatron SP 4Nh; our per-rank all-to-all volume approaches it', () => {
    const N = 262144;
    const h = 4096;
    for (const p of [4, 8, 64]) {
      expect(megatronSpPerLinkElementsPaper(N, h) / ulyssesPerLinkElementsPaper(N, h, p)).toBe(p);
      // Per rank: QKV (3Nh) and O (Nh) all-to-alls send (P−1)/P of the local N/P·h each.
      const perRank = allToAllSentBytes(3 * N * h, p) + allToAllSentBytes(N * h, p);
      expect(perRank / ulyssesPerLinkElementsPaper(N, h, p)).toBeCloseTo((p - 1) / p, 12);
    }
  });
});

describe('from a schedule (fixtures)', () => {
  it('ring and all-gather move the same total K/V bytes, (P−1)/P·2·s·h_kv·e per rank', () => {
    const ring = fixture('ring');
    const ag = fixture('allgather');
    const total = totalSentBytes(ring, ['K', 'V'], 'forward');
    expect(total).toBe(totalSentBytes(ag, ['K', 'V'], 'forward'));
    const perRank = ((P - 1) / P) * 2 * S * KV_BYTES_PER_TOKEN;
    for (const r of commPerRank(ring)) expect(r.perLayer.forward).toBe(perRank);
    for (const r of commPerRank(ag)) {
      expect(r.perLayer.forward).toBe(perRank);
      expect(r.byKind['all-gather'].forward).toBe(perRank);
      expect(r.collectives['all-gather'].forward).toBe(1);
    }
  });

  it('scale (1/t for TP shares) multiplies every byte', () => {
    const [r0] = commPerRank(fixture('ring'), 0.5);
    expect(r0?.perLayer.forward).toBe(((P - 1) / P) * S * KV_BYTES_PER_TOKEN);
  });

  it('α-β: inter-node transfers use the NIC bandwidth', () => {
    const gpu = GPU_PRESETS[1] as GpuPreset;
    const c: Collective = { kind: 'send-recv', group: [0, 1], label: '', transfers: kvTransfers(0, 1, 0) };
    const bytes = 2 * (S / P) * KV_BYTES_PER_TOKEN;
    const intra = collectiveSeconds(c, 0, { gpu, node: () => 0 });
    const inter = collectiveSeconds(c, 0, { gpu, node: (r) => r });
    expect(intra).toBeCloseTo(2 * gpu.latency + bytes / gpu.intraNodeBandwidth, 15);
    expect(inter).toBeCloseTo(2 * gpu.latency + bytes / gpu.interNodeBandwidth, 15);
  });
});

describe('ring overlap condition (Liu et al. 2023, Table 2)', () => {
  const mha = { heads: 32, kvHeads: 32, bytesPerElement: 2 };
  it('A100 NVLink (312 TFLOP/s, 300 GB/s): ~1K tokens', () => {
    const c = ringMinBlockTokens(312e12, 300e9, mha);
    expect(c).toBeGreaterThan(0.95e3);
    expect(c).toBeLessThan(1.1e3);
  });
  it('A100 InfiniBand (100 Gb/s = 12.5 GB/s): ~24.5K tokens', () => {
    const c = ringMinBlockTokens(312e12, 12.5e9, mha);
    expect(Math.abs(c / 24.5e3 - 1)).toBeLessThan(0.03);
  });
  it('GQA shrinks the block by a_kv/a (our derivation)', () => {
    expect(ringMinBlockTokens(312e12, 300e9, { ...mha, kvHeads: 8 })).toBeCloseTo(ringMinBlockTokens(312e12, 300e9, mha) / 4, 9);
  });
});
