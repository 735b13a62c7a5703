// The CPU oracle of the attention backward pass.
//
// causalAttentionBackward is a DIRECT float64 implementation of the gradients of
// O = softmax(Q Kᵀ/√d + causal mask) V, independent of FlashAttention's tricks: it forms the full
// probability row, dP = dO Vᵀ, and D_i = Σ_j P_ij dP_ij (not rowsum(dO∘O)), then
//   dS = P ∘ (dP − D),  dQ = dS K/√d,  dK = dSᵀ Q/√d,  dV = Pᵀ dO
// (the softmax Jacobian; e.g. Dao 2023, FlashAttention-2, §2.2 "backward pass"). GQA: dK, dV of K/V head
// hk sum over the query heads h with floor(h·kvHeads/heads) = hk. Its own correctness is checked in
// referenceBackward.test.ts against central finite differences of a float64 forward.
//
// blockBackwardCpu / preprocessCpu are the CPU twins of shaders/attention_backward.wgsl and
// shaders/backward_preprocess.wgsl (same buffer layouts, f64 maths), used by the CPU executor.

import type { AttentionInputs } from './random.ts';
import { fillNormal, streamSeed } from './random.ts';
import type { TokenSet } from './schedule.ts';
import { positionsOf } from './execution.ts';

/** dO ~ N(0, 1), the gradient of the loss with respect to the attention output, from stream 3 of `seed`. */
export function outputGradient(seed: number, heads: number, seq: number, headDim: number): Float32Array {
  return fillNormal(new Float32Array(heads * seq * headDim), streamSeed(seed, 3));
}

export interface AttentionGradients<T extends Float32Array | Float64Array = Float32Array> {
  /** [heads, seq, headDim] */
  readonly dq: T;
  /** [kvHeads, seq, headDim] */
  readonly dk: T;
  /** [kvHeads, seq, headDim] */
  readonly dv: T;
}

/**
 * Exact causal attention gradients in float64. `kvHeadsToCheck` limits the work to those K/V heads and
 * their GQA groups of query heads (the rest stay 0): dK/dV of a K/V head and dQ of its query heads
 * depend on nothing else, so a subset is exact where computed.
 */
export function causalAttentionBackward(inputs: AttentionInputs, dO: ArrayLike<number>, kvHeadsToCheck?: readonly number[]): AttentionGradients<Float64Array> {
  const { heads: H, kvHeads: KVH, seq: S, headDim: D, q, k, v } = inputs;
  const dq = new Float64Array(H * S * D);
  const dk = new Float64Array(KVH * S * D);
  const dv = new Float64Array(KVH * S * D);
  const scale = 1 / Math.sqrt(D);
  const p = new Float64Array(S);
  const dp = new Float64Array(S);
  const kvList = kvHeadsToCheck ?? Array.from({ length: KVH }, (_, i) => i);
  for (const hk of kvList) {
    for (let h = 0; h < H; h++) {
      if (Math.floor((h * KVH) / H) !== hk) continue;
      for (let i = 0; i < S; i++) {
        const qb = (h * S + i) * D;
        let m = -Infinity;
        for (let j = 0; j <= i; j++) {
          const kb = (hk * S + j) * D;
          let s = 0;
          let g = 0;
          for (let c = 0; c < D; c++) {
            s += (q[qb + c] as number) * (k[kb + c] as number);
            g += (dO[qb + c] as number) * (v[kb + c] as number);
          }
          p[j] = s * scale;
          dp[j] = g;
          if ((p[j] as number) > m) m = p[j] as number;
        }
        let l = 0;
        for (let j = 0; j <= i; j++) {
          p[j] = Math.exp((p[j] as number) - m);
          l += p[j] as number;
        }
        let dSum = 0;
        for (let j = 0; j <= i; j++) {
          p[j] = (p[j] as number) / l;
          dSum += (p[j] as number) * (dp[j] as number);
        }
        for (let j = 0; j <= i; j++) {
          const pj = p[j] as number;
          const ds = pj * ((dp[j] as number) - dSum) * scale;
          const kb = (hk * S + j) * D;
          for (let c = 0; c < D; c++) {
            dq[qb + c] = (dq[qb + c] as number) + ds * (k[kb + c] as number);
            dk[kb + c] = (dk[kb + c] as number) + ds * (q[qb + c] as number);
            dv[kb + c] = (dv[kb + c] as number) + pj * (dO[qb + c] as number);
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** K/V heads the backward CPU check can afford within `budget` multiply-adds (always at least one). */
export function referenceKvHeads(seq: number, heads: number, kvHeads: number, headDim: number, budget = 1.5e8): number[] {
  const perKvHead = (seq * (seq + 1) * 3 * headDim * heads) / kvHeads; // ≈ s²/2 pairs × 6 products × group
  const n = Math.max(1, Math.min(kvHeads, Math.floor(budget / Math.max(1, perKvHead))));
  if (n >= kvHeads) return Array.from({ length: kvHeads }, (_, i) => i);
  // The first and the last K/V heads first: a head-indexing bug shows at the ends.
  const out = new Set<number>([0, kvHeads - 1]);
  for (let i = 1; out.size < n && i < kvHeads - 1; i++) out.add(i);
  return [...out].slice(0, n).sort((a, b) => a - b);
}

export interface GradientError {
  readonly maxAbsError: number;
  /** Largest |reference| over the compared elements. */
  readonly maxMagnitude: number;
  /** maxAbsError / maxMagnitude: the "relative to the largest gradient magnitude". */
  readonly relative: number;
}

/**
 * max |a − ref| over a [heads, seq, d] tensor, only over `heads` when given. NaN counts as Infinity.
 */
export function gradientError(a: ArrayLike<number>, ref: ArrayLike<number>, shape: { seq: number; headDim: number; heads?: readonly number[] }): GradientError {
  if (a.length !== ref.length) throw new Error(`gradientError: lengths differ (${a.length} vs ${ref.length})`);
  const row = shape.seq * shape.headDim;
  const heads = shape.heads ?? Array.from({ length: Math.round(a.length / Math.max(1, row)) }, (_, i) => i);
  let maxAbsError = 0;
  let maxMagnitude = 0;
  for (const h of heads)
    for (let i = h * row; i < (h + 1) * row; i++) {
      const e = Math.abs((a[i] as number) - (ref[i] as number));
      const err = Number.isNaN(e) ? Infinity : e;
      if (err > maxAbsError) maxAbsError = err;
      const m = Math.abs(ref[i] as number);
      if (m > maxMagnitude) maxMagnitude = m;
    }
  return { maxAbsError, maxMagnitude, relative: maxAbsError / Math.max(maxMagnitude, 1e-30) };
}

/** Query heads of the GQA groups of `kvHeads`. */
export function queryHeadsOfKv(kvHeads: readonly number[], heads: number, numKv: number): number[] {
  const out: number[] = [];
  for (let h = 0; h < heads; h++) if (kvHeads.includes(Math.floor((h * numKv) / heads))) out.push(h);
  return out;
}

/** The CPU twin of shaders/backward_preprocess.wgsl: stats[row] = (lse, Σ dO∘O). */
export function preprocessCpu(dO: Float32Array, o: Float32Array, lse: Float32Array, stats: Float32Array, a: { tq: number; headDim: number; computeHeads: number; dOHeadOffset: number }): void {
  const D = a.headDim;
  for (let row = 0; row < a.computeHeads * a.tq; row++) {
    const hl = Math.floor(row / a.tq);
    const i = row % a.tq;
    const gb = ((hl + a.dOHeadOffset) * a.tq + i) * D;
    let s = 0;
    for (let c = 0; c < D; c++) s += (dO[gb + c] as number) * (o[row * D + c] as number);
    stats[2 * row] = lse[row] as number;
    stats[2 * row + 1] = s;
  }
}

export interface BackwardBuffers {
  /** [qHeadsInBuffer, tq, d], head 0 = qHeadBase */
  readonly q: Float32Array;
  /** [kvHeadsInBuffer, tkv, d], head 0 = kvHeadBase */
  readonly k: Float32Array;
  readonly v: Float32Array;
  /** [dOHeadsInBuffer, tq, d], head 0 = dOHeadBase */
  readonly dO: Float32Array;
  /** [computeHeads, tq, 2]: (lse, D) */
  readonly stats: Float32Array;
  /** [computeHeads, tq, d] */
  readonly dq: Float32Array;
  /** [kvOutCount, tkv, d], head 0 = kvOutBase */
  readonly dk: Float32Array;
  readonly dv: Float32Array;
}

export interface BackwardArgs {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly headStart: number;
  readonly headEnd: number;
  readonly qHeadBase: number;
  readonly kvHeadBase: number;
  readonly dOHeadBase: number;
  readonly kvOutBase: number;
  readonly kvOutCount: number;
  readonly qTokens: TokenSet;
  readonly kvTokens: TokenSet;
  readonly init: boolean;
  readonly localMask: boolean;
}

/** The CPU twin of shaders/attention_backward.wgsl (f32 buffers, f64 maths): dQ accumulated, dK/dV overwritten. */
export function blockBackwardCpu(b: BackwardBuffers, a: BackwardArgs): void {
  const qPos = positionsOf(a.qTokens);
  const kvPos = positionsOf(a.kvTokens);
  const tq = qPos.length;
  const tkv = kvPos.length;
  const D = a.headDim;
  const scale = 1 / Math.sqrt(D);
  const dq = new Float64Array(D);
  const dk = new Float64Array(a.kvOutCount * tkv * D);
  const dv = new Float64Array(a.kvOutCount * tkv * D);
  for (let hq = a.headStart; hq < a.headEnd; hq++) {
    const hl = hq - a.headStart;
    const hkv = Math.floor((hq * a.kvHeads) / a.heads);
    const hk = hkv - a.kvHeadBase;
    const ho = hkv - a.kvOutBase;
    for (let i = 0; i < tq; i++) {
      const qi = a.localMask ? i : (qPos[i] as number);
      const qb = ((hq - a.qHeadBase) * tq + i) * D;
      const gb = ((hq - a.dOHeadBase) * tq + i) * D;
      const si = hl * tq + i;
      const lse = b.stats[2 * si] as number;
      const dSum = b.stats[2 * si + 1] as number;
      dq.fill(0);
      for (let j = 0; j < tkv; j++) {
        const kj = a.localMask ? j : (kvPos[j] as number);
        if (kj > qi) continue;
        const kb = (hk * tkv + j) * D;
        let s = 0;
        let g = 0;
        for (let c = 0; c < D; c++) {
          s += (b.q[qb + c] as number) * (b.k[kb + c] as number);
          g += (b.dO[gb + c] as number) * (b.v[kb + c] as number);
        }
        const p = Math.exp(s * scale - lse);
        const ds = p * (g - dSum) * scale;
        const ob = (ho * tkv + j) * D;
        for (let c = 0; c < D; c++) {
          dq[c] = (dq[c] as number) + ds * (b.k[kb + c] as number);
          dk[ob + c] = (dk[ob + c] as number) + ds * (b.q[qb + c] as number);
          dv[ob + c] = (dv[ob + c] as number) + p * (b.dO[gb + c] as number);
        }
      }
      for (let c = 0; c < D; c++) b.dq[si * D + c] = (a.init ? 0 : (b.dq[si * D + c] as number)) + (dq[c] as number);
    }
  }
  b.dk.set(dk);
  b.dv.set(dv);
}
