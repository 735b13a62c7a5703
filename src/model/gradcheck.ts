// An independent gradient check for tests: central finite differences of a float64 causal-attention
// forward written out here (not the forward or backward under test). Tiny cases only: it runs the
// O(s²·d) forward twice per input element.
import type { AttentionInputs } from './random.ts';

/** L = Σ_{h,i,c} O[h,i,c] · dO[h,i,c] with O causal softmax attention, all in float64. */
export function lossF64(q: Float64Array, k: Float64Array, v: Float64Array, dO: ArrayLike<number>, H: number, KVH: number, S: number, D: number): number {
  let loss = 0;
  const w = new Float64Array(S);
  for (let h = 0; h < H; h++) {
    const hk = Math.floor((h * KVH) / H);
    for (let i = 0; i < S; i++) {
      let m = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let c = 0; c < D; c++) s += (q[(h * S + i) * D + c] as number) * (k[(hk * S + j) * D + c] as number);
        w[j] = s / Math.sqrt(D);
        m = Math.max(m, w[j] as number);
      }
      let l = 0;
      for (let j = 0; j <= i; j++) l += w[j] = Math.exp((w[j] as number) - m);
      for (let c = 0; c < D; c++) {
        let o = 0;
        for (let j = 0; j <= i; j++) o += ((w[j] as number) / l) * (v[(hk * S + j) * D + c] as number);
        loss += o * (dO[(h * S + i) * D + c] as number);
      }
    }
  }
  return loss;
}

/** Central finite differences of lossF64 with respect to every element of Q, K and V. */
export function finiteDifferenceGradients(inputs: AttentionInputs, dO: ArrayLike<number>, eps = 1e-5): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { heads: H, kvHeads: KVH, seq: S, headDim: D } = inputs;
  const q = Float64Array.from(inputs.q);
  const k = Float64Array.from(inputs.k);
  const v = Float64Array.from(inputs.v);
  const grad = (x: Float64Array): Float64Array => {
    const g = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const keep = x[i] as number;
      x[i] = keep + eps;
      const up = lossF64(q, k, v, dO, H, KVH, S, D);
      x[i] = keep - eps;
      const down = lossF64(q, k, v, dO, H, KVH, S, D);
      x[i] = keep;
      g[i] = (up - down) / (2 * eps);
    }
    return g;
  };
  return { dq: grad(q), dk: grad(k), dv: grad(v) };
}
