// The CPU oracle for the GPU: exact causal attention, the per-block online-softmax merge, and a CPU
// executor of an ExecPlan (the same buffer-level plan the GPU runner executes), used as the fallback
// when the browser has no WebGPU.
//
// Online softmax (Milakov & Gimelshein 2018; FlashAttention, Dao et al. 2022, Algorithm 1): a query row
// keeps m (running max of its scores), l (Σ exp(s − m)) and acc (Σ exp(s − m)·v). A new block with
// scores s_j merges as m' = max(m, max_j s_j), l' = l·e^{m−m'} + Σ_j e^{s_j−m'},
// acc' = acc·e^{m−m'} + Σ_j e^{s_j−m'}·v_j; at the end O = acc / l and lse = m + log l.

import type { AttentionInputs } from './random.ts';
import type { ExecPlan, GradientStepNorms, Piece } from './execution.ts';
import type { TokenSet } from './schedule.ts';
import { gradientNorm, gradientSnapshots, l2, positionsOf } from './execution.ts';
import type { AttentionGradients } from './referenceBackward.ts';
import { blockBackwardCpu, preprocessCpu } from './referenceBackward.ts';

/** "No key yet" for m: finite so that e^{m − m'} never becomes e^{−∞ + ∞}. Same value as the WGSL. */
export const NEG_BIG = -1e30;

export interface AttentionOutput {
  /** [heads, seq, headDim] f32 */
  readonly o: Float32Array;
  /** [heads, seq] f32 */
  readonly lse: Float32Array;
}

/**
 * Exact causal attention in float64 (two passes: max, then sum), rows `rows` only when given
 * (the others stay 0), softmax scale 1/sqrt(headDim). GQA: query head h reads K/V head floor(h·kvHeads/heads).
 */
export function causalAttention(inputs: AttentionInputs, rows?: readonly number[]): AttentionOutput {
  const { heads: H, kvHeads: KVH, seq: S, headDim: D, q, k, v } = inputs;
  const o = new Float32Array(H * S * D);
  const lse = new Float32Array(H * S);
  const scale = 1 / Math.sqrt(D);
  const scores = new Float64Array(S);
  const accum = new Float64Array(D);
  const rowList = rows ?? Array.from({ length: S }, (_, i) => i);
  for (let h = 0; h < H; h++) {
    const hk = Math.floor((h * KVH) / H);
    for (const i of rowList) {
      const qb = (h * S + i) * D;
      let m = -Infinity;
      for (let j = 0; j <= i; j++) {
        const kb = (hk * S + j) * D;
        let s = 0;
        for (let c = 0; c < D; c++) s += (q[qb + c] as number) * (k[kb + c] as number);
        s *= scale;
        scores[j] = s;
        if (s > m) m = s;
      }
      accum.fill(0);
      let l = 0;
      for (let j = 0; j <= i; j++) {
        const p = Math.exp((scores[j] as number) - m);
        l += p;
        const vb = (hk * S + j) * D;
        for (let c = 0; c < D; c++) accum[c] = (accum[c] as number) + p * (v[vb + c] as number);
      }
      for (let c = 0; c < D; c++) o[qb + c] = (accum[c] as number) / l;
      lse[h * S + i] = m + Math.log(l);
    }
  }
  return { o, lse };
}

/** One query row's online-softmax state. */
export interface SoftmaxState {
  m: number;
  l: number;
  readonly acc: Float64Array;
}

/**
 * Merges one block into a row's state: `scores[j]` (already scaled; `masked[j]` true = excluded) and
 * the block's V rows via `vRow(j)`. Returns the state (mutated in place).
 */
export function mergeBlock(state: SoftmaxState, scores: ArrayLike<number>, masked: ArrayLike<boolean>, vRow: (j: number) => ArrayLike<number>): SoftmaxState {
  let mt = NEG_BIG;
  for (let j = 0; j < scores.length; j++) if (!masked[j] && (scores[j] as number) > mt) mt = scores[j] as number;
  const mNew = Math.max(state.m, mt);
  const alpha = Math.exp(state.m - mNew);
  state.l *= alpha;
  for (let c = 0; c < state.acc.length; c++) state.acc[c] = (state.acc[c] as number) * alpha;
  for (let j = 0; j < scores.length; j++) {
    if (masked[j]) continue;
    const p = Math.exp((scores[j] as number) - mNew);
    state.l += p;
    const vr = vRow(j);
    for (let c = 0; c < state.acc.length; c++) state.acc[c] = (state.acc[c] as number) + p * (vr[c] as number);
  }
  state.m = mNew;
  return state;
}

/** Buffers of a block-attention step on the CPU, in the GPU kernel's layouts. */
export interface BlockBuffers {
  /** [qHeadsInBuffer, tq, d], head 0 = global head qHeadBase */
  readonly q: Float32Array;
  /** [kvHeadsInBuffer, tkv, d], head 0 = global kv head kvHeadBase */
  readonly k: Float32Array;
  readonly v: Float32Array;
  /** [computeHeads, tq] */
  readonly m: Float32Array;
  readonly l: Float32Array;
  /** [computeHeads, tq, d] */
  readonly acc: Float32Array;
}

export interface BlockArgs {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Global query heads computed. */
  readonly headStart: number;
  readonly headEnd: number;
  readonly qHeadBase: number;
  readonly kvHeadBase: number;
  readonly qTokens: TokenSet;
  readonly kvTokens: TokenSet;
  readonly init: boolean;
  /** Mask by buffer position instead of global position (the bug demo). */
  readonly localMask: boolean;
}

/** The CPU twin of shaders/block_attention.wgsl (state kept in f32 buffers, maths in f64). */
export function blockAttentionCpu(b: BlockBuffers, a: BlockArgs): void {
  const qPos = positionsOf(a.qTokens);
  const kvPos = positionsOf(a.kvTokens);
  const tq = qPos.length;
  const tkv = kvPos.length;
  const D = a.headDim;
  const scale = 1 / Math.sqrt(D);
  const scores = new Float64Array(tkv);
  const masked = new Array<boolean>(tkv);
  const state: SoftmaxState = { m: NEG_BIG, l: 0, acc: new Float64Array(D) };
  for (let hq = a.headStart; hq < a.headEnd; hq++) {
    const hl = hq - a.headStart;
    const hk = Math.floor((hq * a.kvHeads) / a.heads) - a.kvHeadBase;
    for (let i = 0; i < tq; i++) {
      const qi = a.localMask ? i : (qPos[i] as number);
      const qb = ((hq - a.qHeadBase) * tq + i) * D;
      for (let j = 0; j < tkv; j++) {
        const kj = a.localMask ? j : (kvPos[j] as number);
        masked[j] = kj > qi;
        if (masked[j]) continue;
        const kb = (hk * tkv + j) * D;
        let s = 0;
        for (let c = 0; c < D; c++) s += (b.q[qb + c] as number) * (b.k[kb + c] as number);
        scores[j] = s * scale;
      }
      const si = hl * tq + i;
      if (a.init) {
        state.m = NEG_BIG;
        state.l = 0;
        state.acc.fill(0);
      } else {
        state.m = b.m[si] as number;
        state.l = b.l[si] as number;
        for (let c = 0; c < D; c++) state.acc[c] = b.acc[si * D + c] as number;
      }
      mergeBlock(state, scores, masked, (j) => b.v.subarray((hk * tkv + j) * D, (hk * tkv + j + 1) * D));
      b.m[si] = state.m;
      b.l[si] = state.l;
      for (let c = 0; c < D; c++) b.acc[si * D + c] = state.acc[c] as number;
    }
  }
}

/** The CPU twin of shaders/finalise.wgsl. */
export function finaliseCpu(m: Float32Array, l: Float32Array, acc: Float32Array, o: Float32Array, lse: Float32Array, d: number): void {
  for (let row = 0; row < l.length; row++) {
    const lr = l[row] as number;
    for (let c = 0; c < d; c++) o[row * d + c] = lr > 0 ? (acc[row * d + c] as number) / lr : 0;
    lse[row] = lr > 0 ? (m[row] as number) + Math.log(lr) : NEG_BIG;
  }
}

export interface TracePoint {
  /** Forward step index. */
  readonly step: number;
  readonly m: number;
  readonly l: number;
  /** The first few entries of the unnormalised acc. */
  readonly acc: number[];
}

export interface SoftmaxTrace {
  readonly rank: number;
  readonly token: number;
  readonly head: number;
  readonly points: TracePoint[];
}

export const TRACE_ACC_VALUES = 4;

/** Copies of `inputs` rows (or of `dO`, [heads, seq, d], for a dO shard) into a piece's layout ([heads, tokens, d]); used by both executors. */
export function shardData(piece: Piece, inputs: AttentionInputs, dO?: Float32Array): Float32Array {
  if (piece.tensor === 'dO' && !dO) throw new Error('internal: a dO shard needs the output gradient');
  const src = piece.tensor === 'Q' ? inputs.q : piece.tensor === 'K' ? inputs.k : piece.tensor === 'dO' ? (dO as Float32Array) : inputs.v;
  const S = inputs.seq;
  const D = inputs.headDim;
  const out = new Float32Array(piece.elements);
  const n = piece.positions.length;
  for (let h = piece.heads.start; h < piece.heads.end; h++) {
    for (let i = 0; i < n; i++) {
      const g = piece.positions[i] as number;
      out.set(src.subarray((h * S + g) * D, (h * S + g + 1) * D), ((h - piece.heads.start) * n + i) * D);
    }
  }
  return out;
}

/** Scatters the plan's final O buffers into [heads, seq, d]. */
export function gatherOutput(plan: ExecPlan, read: (piece: Piece) => Float32Array): Float32Array {
  const D = plan.headDim;
  const S = plan.seq;
  const out = new Float32Array(plan.heads * S * D);
  for (const id of plan.outputs) {
    const piece = plan.pieces[id] as Piece;
    const data = read(piece);
    const n = piece.positions.length;
    for (let h = piece.heads.start; h < piece.heads.end; h++)
      for (let i = 0; i < n; i++) {
        const g = piece.positions[i] as number;
        out.set(data.subarray(((h - piece.heads.start) * n + i) * D, ((h - piece.heads.start) * n + i + 1) * D), (h * S + g) * D);
      }
  }
  return out;
}

/** Scatters the plan's final dQ, dK, dV pieces into [heads, seq, d] and [kvHeads, seq, d]. */
export function gatherGradients(plan: ExecPlan, read: (piece: Piece) => Float32Array): AttentionGradients {
  const D = plan.headDim;
  const S = plan.seq;
  const scatter = (ids: readonly number[], heads: number): Float32Array => {
    const out = new Float32Array(heads * S * D);
    for (const id of ids) {
      const piece = plan.pieces[id] as Piece;
      const data = read(piece);
      const n = piece.positions.length;
      for (let h = piece.heads.start; h < piece.heads.end; h++)
        for (let i = 0; i < n; i++) {
          const at = ((h - piece.heads.start) * n + i) * D;
          out.set(data.subarray(at, at + D), (h * S + (piece.positions[i] as number)) * D);
        }
    }
    return out;
  };
  const g = plan.backward?.gradients;
  if (!g) throw new Error(plan.backwardError ?? 'the plan has no backward steps');
  return { dq: scatter(g.dq, plan.heads), dk: scatter(g.dk, plan.kvHeads), dv: scatter(g.dv, plan.kvHeads) };
}

export interface CpuRun {
  /** [heads, seq, d] f32 */
  readonly o: Float32Array;
  readonly trace: SoftmaxTrace | null;
  readonly copies: number;
  /** With an output gradient: dQ, dK, dV in global order and the per-step gradient norms. */
  readonly grads: AttentionGradients | null;
  readonly gradientNorms: GradientStepNorms[] | null;
}

/** Executes an ExecPlan on the CPU: per-rank Float32Arrays, copies for collectives, blockAttentionCpu per compute. */
export function executePlanCpu(plan: ExecPlan, inputs: AttentionInputs, localMask: boolean, dO?: Float32Array): CpuRun {
  if (inputs.seq !== plan.seq || inputs.heads !== plan.heads || inputs.kvHeads !== plan.kvHeads || inputs.headDim !== plan.headDim) {
    throw new Error(`inputs [${inputs.heads}/${inputs.kvHeads} heads, ${inputs.seq} tokens, d ${inputs.headDim}] do not match the plan [${plan.heads}/${plan.kvHeads}, ${plan.seq}, ${plan.headDim}]`);
  }
  const data = new Map<number, Float32Array>();
  const get = (id: number): Float32Array => {
    let a = data.get(id);
    if (!a) {
      const piece = plan.pieces[id] as Piece;
      a = piece.role === 'shard' ? shardData(piece, inputs, dO) : new Float32Array(piece.elements);
      data.set(id, a);
    }
    return a;
  };
  const copy = (c: { src: number; srcOffset: number; dst: number; dstOffset: number; count: number }): void => {
    get(c.dst).set(get(c.src).subarray(c.srcOffset, c.srcOffset + c.count), c.dstOffset);
  };
  let copies = 0;
  const trace = plan.trace;
  const points: TracePoint[] = [];
  for (const step of plan.steps) {
    for (const c of step.assemble) copy(c);
    for (const op of step.compute) {
      blockAttentionCpu(
        { q: get(op.q), k: get(op.k), v: get(op.v), m: get(op.m), l: get(op.l), acc: get(op.acc) },
        {
          heads: plan.heads,
          kvHeads: plan.kvHeads,
          headDim: plan.headDim,
          headStart: op.heads.start,
          headEnd: op.heads.end,
          qHeadBase: op.qHeadBase,
          kvHeadBase: op.kvHeadBase,
          qTokens: op.qTokens,
          kvTokens: op.kvTokens,
          init: op.init,
          localMask,
        },
      );
    }
    if (trace && step.index >= trace.firstStep && step.index <= trace.lastStep) {
      const acc = get(trace.acc);
      const r = trace.rowIndex;
      points.push({ step: step.index, m: get(trace.m)[r] as number, l: get(trace.l)[r] as number, acc: Array.from(acc.subarray(r * plan.headDim, r * plan.headDim + Math.min(TRACE_ACC_VALUES, plan.headDim))) });
    }
    for (const f of step.finalise) finaliseCpu(get(f.m), get(f.l), get(f.acc), get(f.o), get(f.lse), plan.headDim);
    for (const c of step.transfers) copy(c);
    copies += step.assemble.length + step.transfers.length;
    // Free what no later step reads.
    for (const [id] of data) if ((plan.pieces[id] as Piece).lastUse <= step.index) data.delete(id);
  }
  const o = gatherOutput(plan, (p) => get(p.id));
  let grads: AttentionGradients | null = null;
  let gradientNorms: GradientStepNorms[] | null = null;
  const b = plan.backward;
  if (dO && b) {
    const add = (c: { src: number; srcOffset: number; dst: number; dstOffset: number; count: number }): void => {
      const s = get(c.src);
      const d = get(c.dst);
      for (let i = 0; i < c.count; i++) d[c.dstOffset + i] = (d[c.dstOffset + i] as number) + (s[c.srcOffset + i] as number);
    };
    const snapshots = new Map(gradientSnapshots(plan).map((x) => [x.step, x.pieces]));
    gradientNorms = [];
    const record = (index: number): void => {
      gradientNorms?.push({ step: index, pieces: (snapshots.get(index) ?? []).map((p) => gradientNorm(p, l2(get(p.id)))) });
    };
    const free = (index: number): void => {
      for (const [id] of data) if ((plan.pieces[id] as Piece).lastUse <= index) data.delete(id);
    };
    for (const step of b.steps) {
      for (const c of step.assemble) copy(c);
      for (const p of step.preprocess) preprocessCpu(get(p.dO), get(p.o), get(p.lse), get(p.stats), { tq: p.tq, headDim: plan.headDim, computeHeads: p.computeHeads, dOHeadOffset: p.dOHeadOffset });
      for (const op of step.compute) {
        blockBackwardCpu(
          { q: get(op.q), k: get(op.k), v: get(op.v), dO: get(op.dO), stats: get(op.stats), dq: get(op.dq), dk: get(op.dk), dv: get(op.dv) },
          {
            heads: plan.heads,
            kvHeads: plan.kvHeads,
            headDim: plan.headDim,
            headStart: op.heads.start,
            headEnd: op.heads.end,
            qHeadBase: op.qHeadBase,
            kvHeadBase: op.kvHeadBase,
            dOHeadBase: op.dOHeadBase,
            kvOutBase: op.kvOut.start,
            kvOutCount: op.kvOut.end - op.kvOut.start,
            qTokens: op.qTokens,
            kvTokens: op.kvTokens,
            init: op.init,
            localMask,
          },
        );
      }
      for (const c of step.reduce) add(c);
      for (const c of step.transfers) copy(c);
      copies += step.assemble.length + step.transfers.length;
      record(step.index);
      free(step.index);
    }
    for (const c of b.gather.copies) copy(c);
    for (const c of b.gather.adds) add(c);
    record(b.gather.index);
    grads = gatherGradients(plan, (p) => get(p.id));
  }
  return { o, trace: trace ? { rank: trace.rank, token: trace.token, head: trace.head, points } : null, copies, grads, gradientNorms };
}

export interface ErrorStats {
  readonly maxAbsError: number;
  /** max over elements of |a − b| / max(|b|, 1e-3): relative, with a floor so near-zero outputs do not dominate. */
  readonly maxRelError: number;
}

/** Compares `a` with reference `b`, optionally only rows `rows` of a [heads, seq, d] tensor. */
export function compare(a: Float32Array | Float64Array, b: Float32Array | Float64Array, shape?: { heads: number; seq: number; headDim: number; rows: readonly number[] }): ErrorStats {
  let maxAbsError = 0;
  let maxRelError = 0;
  const visit = (i: number): void => {
    const x = a[i] as number;
    const y = b[i] as number;
    const e = Math.abs(x - y);
    const err = Number.isNaN(e) ? Infinity : e;
    if (err > maxAbsError) maxAbsError = err;
    const rel = err / Math.max(Math.abs(y), 1e-3);
    if (rel > maxRelError) maxRelError = rel;
  };
  if (a.length !== b.length) throw new Error(`compare: lengths differ (${a.length} vs ${b.length})`);
  if (!shape) for (let i = 0; i < a.length; i++) visit(i);
  else
    for (let h = 0; h < shape.heads; h++)
      for (const row of shape.rows) for (let c = 0; c < shape.headDim; c++) visit((h * shape.seq + row) * shape.headDim + c);
  return { maxAbsError, maxRelError };
}

/**
 * Query rows to check against the O(s²) CPU reference within a budget of multiply-adds: all rows when
 * cheap, otherwise evenly spaced rows plus the last ones (the longest rows, where errors accumulate most).
 */
export function referenceRows(seq: number, heads: number, headDim: number, budget = 1.5e8): number[] {
  const full = (seq * (seq + 1) * heads * headDim); // ≈ 2 passes × s²/2 × d × heads
  if (full <= budget) return Array.from({ length: seq }, (_, i) => i);
  const perRow = seq * heads * headDim * 2;
  const n = Math.max(8, Math.floor(budget / perRow));
  const rows = new Set<number>();
  for (let i = 0; i < n - 4; i++) rows.add(Math.floor((i * (seq - 1)) / Math.max(1, n - 5)));
  for (let i = 0; i < 4 && seq - 1 - i >= 0; i++) rows.add(seq - 1 - i);
  return [...rows].sort((x, y) => x - y);
}
