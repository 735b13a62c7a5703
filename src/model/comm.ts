// Communication volume. Two views that tests hold against each other:
//  1. closed-form per-rank volumes of the collectives (ring algorithms, as NCCL runs them), and
//     the papers' own per-layer statements;
//  2. the bytes each rank SENDS in a schedule's transfers.
// We count bytes SENT per rank. Every collective here is symmetric per rank (each rank sends
// what it receives), so sent equals received except for ranks at the ends of uneven shards; sent
// is what a rank's outgoing link carries, the quantity the α-β timeline prices.

import type { CollectiveKind, Phase, Schedule, Step, Transfer } from './schedule.ts';

export const COLLECTIVE_KINDS: readonly CollectiveKind[] = ['all-gather', 'reduce-scatter', 'all-to-all', 'send-recv', 'all-reduce'];

export interface FwdBwd {
  forward: number;
  backward: number;
}

export type ByKind = Record<CollectiveKind, FwdBwd>;

export function emptyByKind(): ByKind {
  const out = {} as ByKind;
  for (const k of COLLECTIVE_KINDS) out[k] = { forward: 0, backward: 0 };
  return out;
}

// ---------------------------------------------------------------------------------------------
// Closed forms (bytes sent per rank; M is the full tensor's size across the group, p the group).
// Ring all-gather / reduce-scatter: p−1 rounds of M/p (Thakur, Rabenseifner & Gropp 2005; NCCL).
// All-reduce = reduce-scatter + all-gather: 2·(p−1)/p·M.
// All-to-all: a rank keeps 1/p of its local M/p and sends the rest.

export function allGatherSentBytes(fullBytes: number, p: number): number {
  return ((p - 1) / p) * fullBytes;
}

export function reduceScatterSentBytes(fullBytes: number, p: number): number {
  return ((p - 1) / p) * fullBytes;
}

export function allReduceSentBytes(fullBytes: number, p: number): number {
  return (2 * (p - 1) * fullBytes) / p;
}

export function allToAllSentBytes(fullBytes: number, p: number): number {
  return ((p - 1) / p) * (fullBytes / p);
}

/**
 * Jacobs et al. 2023 (DeepSpeed-Ulysses), §3.2: an all-to-all of aggregate message size M over P
 * GPUs moves M/P per link; Ulysses does one for Q,K,V (3Nh) and one for the output (Nh) per
 * layer, "an aggregate communication volume per link of 4Nh/P". Elements, forward, MHA.
 */
export function ulyssesPerLinkElementsPaper(n: number, h: number, p: number): number {
  return (4 * n * h) / p;
}

/**
 * Jacobs et al. 2023, §3.2 on Megatron-LM SP: "two all-gather with message volume Nh and two
 * reduce-scatter with message volume Nh ... per GPU 4Nh regardless of P". Elements, forward.
 */
export function megatronSpPerLinkElementsPaper(n: number, h: number): number {
  return 4 * n * h;
}

/**
 * Megatron SP's bytes sent per rank per layer inside a TP group of t ranks, for `tokens` sequence-
 * sharded tokens per rank (the all-gather or reduce-scatter of s·b·h moves (t−1)·tokens·h·e from
 * each rank). Forward: 2 AG + 2 RS (Korthikanti et al. 2022 §4.2.2). Backward: the 2 conjugate AG,
 * the 2 RS of the input gradients, and 2 AG re-gathering the column-parallel linears' inputs for
 * their weight gradients (megatron/core/tensor_parallel/layers.py,
 * LinearWithGradAccumulationAndAsyncCommunication.backward): 4 AG + 2 RS.
 */
export function megatronSpLayerBytes(tokens: number, hidden: number, bytesPerElement: number, t: number): FwdBwd {
  if (t <= 1) return { forward: 0, backward: 0 };
  const one = (t - 1) * tokens * hidden * bytesPerElement;
  return { forward: 4 * one, backward: 6 * one };
}

/**
 * Bytes a rank sends per iteration to reduce the gradients over its data-parallel group of n ranks
 * (DP × CP: CP ranks hold the same weights, and Megatron-Core reduces grads over the DP×CP group),
 * for Ψ parameters on the rank, g-byte gradients and e-byte weights, as ring collectives:
 * - ZeRO 0 (DDP): all-reduce of the grads, 2·(n−1)/n·Ψ·g;
 * - ZeRO 1/2 (Megatron's distributed optimizer): reduce-scatter of the grads + all-gather of the
 *   updated weights, (n−1)/n·Ψ·(g + e) (docs distrib_optimizer.md: "reduce-scatter … all-gather");
 * - ZeRO 3: the weights are all-gathered in the forward and again in the backward, (n−1)/n·Ψ·(g + 2e)
 *   (Rajbhandari et al. 2020 §7.2.2: 3Ψ against DDP's 2Ψ).
 * Llama 3 8B, bf16 grads, ZeRO-1 over 8 ranks: 7/8 · 8.03e9 · 4 B ≈ 28.1 GB.
 */
export function gradientReductionBytes(psi: number, n: number, gradBytes: number, weightBytes: number, zero: number): number {
  if (n <= 1) return 0;
  const f = (n - 1) / n;
  if (zero === 0) return 2 * f * psi * gradBytes;
  if (zero >= 3) return f * psi * (gradBytes + 2 * weightBytes);
  return f * psi * (gradBytes + weightBytes);
}

// ---------------------------------------------------------------------------------------------
// From a schedule.

export interface RankComm {
  /** Bytes sent per layer, by phase (the loss all-reduce is once per step, not per layer). */
  readonly perLayer: FwdBwd;
  /** The part of perLayer that is Megatron SP's hidden activations X (tensor-parallel traffic). */
  readonly tensorParallel: FwdBwd;
  readonly byKind: ByKind;
  /** Bytes sent in the loss phase (the loss-sum and token-count all-reduce). */
  loss: number;
  /** Number of collectives the rank takes part in, by kind and phase. */
  readonly collectives: Record<CollectiveKind, FwdBwd>;
}

function phaseKey(phase: Phase): 'forward' | 'backward' | null {
  return phase === 'loss' ? null : phase;
}

/** Bytes `rank` sends in one step, by collective (self-transfers carry nothing over a link). */
export function stepSentBytes(step: Step, rank: number): number {
  let n = 0;
  for (const c of step.collectives) for (const t of c.transfers) if (t.src === rank && t.dst !== rank) n += t.bytes;
  return n;
}

/**
 * Per-rank bytes sent, per layer, forward and backward, by collective kind. `scale` multiplies
 * every transfer (e.g. 1/t when TP ranks each move only their heads' share).
 */
export function commPerRank(schedule: Schedule, scale = 1): RankComm[] {
  const ranks = schedule.ranks;
  const kinds = COLLECTIVE_KINDS.length;
  // Flat accumulators, [rank · 2 + phase] and [(rank · kinds + kind) · 2 + phase] with phase 0 =
  // forward, 1 = backward; turned into the per-rank records at the end.
  const perLayer = new Float64Array(ranks * 2);
  const xByRank = new Float64Array(ranks * 2);
  const sentByKind = new Float64Array(ranks * kinds * 2);
  const countByKind = new Float64Array(ranks * kinds * 2);
  const loss = new Float64Array(ranks);
  if (schedule.valid) {
    const sentByRank = new Float64Array(ranks); // zeroed for every collective
    const xSentByRank = new Float64Array(ranks);
    for (const step of schedule.steps) {
      const key = phaseKey(step.phase);
      const phase = key === 'backward' ? 1 : 0;
      for (const c of step.collectives) {
        const kind = COLLECTIVE_KINDS.indexOf(c.kind);
        sentByRank.fill(0);
        xSentByRank.fill(0);
        // Indexed: this visits every transfer of the schedule on every slider move.
        const transfers = c.transfers;
        for (let i = 0; i < transfers.length; i++) {
          const t = transfers[i] as Transfer;
          const src = t.src;
          if (src === t.dst || src < 0 || src >= ranks) continue;
          sentByRank[src] = (sentByRank[src] as number) + t.bytes * scale;
          if (t.tensor === 'X') xSentByRank[src] = (xSentByRank[src] as number) + t.bytes * scale;
        }
        for (const r of c.group) {
          if (!(r >= 0 && r < ranks && Number.isInteger(r))) continue;
          const sent = sentByRank[r] ?? 0;
          if (key === null) {
            loss[r] = (loss[r] ?? 0) + sent;
            continue;
          }
          const at = (r * kinds + kind) * 2 + phase;
          perLayer[r * 2 + phase] = (perLayer[r * 2 + phase] ?? 0) + sent;
          xByRank[r * 2 + phase] = (xByRank[r * 2 + phase] ?? 0) + (xSentByRank[r] ?? 0);
          sentByKind[at] = (sentByKind[at] ?? 0) + sent;
          countByKind[at] = (countByKind[at] ?? 0) + 1;
        }
      }
    }
  }
  const byKindOf = (table: Float64Array, r: number): ByKind => {
    const out = {} as ByKind;
    COLLECTIVE_KINDS.forEach((k, kind) => {
      const at = (r * kinds + kind) * 2;
      out[k] = { forward: table[at] ?? 0, backward: table[at + 1] ?? 0 };
    });
    return out;
  };
  const out: RankComm[] = [];
  for (let r = 0; r < ranks; r++) {
    out.push({
      perLayer: { forward: perLayer[r * 2] ?? 0, backward: perLayer[r * 2 + 1] ?? 0 },
      tensorParallel: { forward: xByRank[r * 2] ?? 0, backward: xByRank[r * 2 + 1] ?? 0 },
      byKind: byKindOf(sentByKind, r),
      loss: loss[r] ?? 0,
      collectives: byKindOf(countByKind, r),
    });
  }
  return out;
}

/** Sum over ranks of the bytes sent carrying the given tensors, by phase (for whole-group totals). */
export function totalSentBytes(schedule: Schedule, tensors: readonly string[], phase: 'forward' | 'backward'): number {
  if (!schedule.valid) return 0;
  let n = 0;
  for (const step of schedule.steps) {
    if (step.phase !== phase) continue;
    for (const c of step.collectives) for (const t of c.transfers) if (t.src !== t.dst && tensors.includes(t.tensor)) n += t.bytes;
  }
  return n;
}
