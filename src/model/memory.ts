// Memory formulas per rank: model state (weights, grads, optimizer) and activations.
// Pure functions of shapes; plan.ts combines them with the schedule (what each rank holds per step).
// Every byte figure here is in bytes; nothing is rounded until plan.ts reports it.

import type { Params, Recompute } from './params.ts';
import { DTYPE_BYTES } from './params.ts';
import { gradsDtypeBytes } from './strategies/impl.ts';

// ---------------------------------------------------------------------------------------------
// Parameter count.

export type MlpKind = 'gelu' | 'swiglu';

/**
 * GPT-style MLPs (GPT-3: ffn = 4h) have two matrices, h×4h and 4h×h; Llama-style SwiGLU MLPs
 * have three (gate, up, down), with ffn ≈ 8h/3 rounded. We tell them apart by the FFN size:
 * exactly 4h means the classic GELU MLP, anything else SwiGLU (all Llama presets).
 */
export function mlpKind(shape: Pick<Params, 'hidden' | 'ffnHidden'>): MlpKind {
  return shape.ffnHidden === 4 * shape.hidden ? 'gelu' : 'swiglu';
}

export interface ParamCounts {
  /** Q, K, V, O projections of one layer. */
  readonly attention: number;
  readonly mlp: number;
  /** The two LayerNorm/RMSNorm weight vectors of one layer (replicated under TP). */
  readonly norms: number;
  readonly perLayer: number;
  /** Input embedding, vocab × h. */
  readonly embedding: number;
  /** Output head, vocab × h (untied from the embedding, as in Llama 3). */
  readonly head: number;
  readonly finalNorm: number;
  readonly total: number;
}

/**
 * Parameter count from the model shape. Biases are ignored (Llama has none; for GPT-3 they are
 * < 0.01% of the total).
 * - Attention with GQA: W_Q h×(a·d), W_K and W_V h×(a_kv·d), W_O (a·d)×h; with a·d = h this is
 *   h·(h + 2·h_kv) + h·h.
 * - MLP: GELU 2·h·ffn (GPT-3, ffn = 4h: 8h²); SwiGLU 3·h·ffn (Llama 3).
 * - Embedding vocab·h plus an untied output head vocab·h.
 * Checks: Llama 3 8B → 8.03e9; GPT-3 175B → 1.75e11.
 */
export function parameterCounts(
  shape: Pick<Params, 'layers' | 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'vocab' | 'ffnHidden'>,
): ParamCounts {
  const { layers, hidden: h, heads: a, kvHeads: akv, headDim: d, vocab, ffnHidden: ffn } = shape;
  const attention = h * (a * d) + 2 * h * (akv * d) + a * d * h;
  const mlp = (mlpKind(shape) === 'gelu' ? 2 : 3) * h * ffn;
  const norms = 2 * h;
  const perLayer = attention + mlp + norms;
  const embedding = vocab * h;
  const head = vocab * h;
  const finalNorm = h;
  return { attention, mlp, norms, perLayer, embedding, head, finalNorm, total: layers * perLayer + embedding + head + finalNorm };
}

// ---------------------------------------------------------------------------------------------
// Model state: weights, gradients, optimizer.

/** Tensor-parallel degree t: for Megatron SP the SP group is the TP group (t = ranks). */
export function tpDegree(params: Pick<Params, 'strategy' | 'ranks' | 'tp'>): number {
  return params.strategy === 'megatron-sp' ? params.ranks : params.tp;
}

/**
 * The group ZeRO shards model state over: the data-parallel replicas, which the CP ranks join
 * (Megatron-Core shards its distributed optimizer over the DP×CP group, because CP ranks hold
 * identical weights). So dp × P for the CP strategies, and dp for Megatron SP, whose ranks are
 * TP ranks that already split the weights.
 */
export function zeroGroupSize(params: Pick<Params, 'strategy' | 'ranks' | 'dp' | 'zero'>): number {
  if (params.zero === 0) return 1;
  return params.strategy === 'megatron-sp' ? params.dp : params.dp * params.ranks;
}

/**
 * Bytes of optimizer state per parameter for Adam. Mixed precision (bf16/fp16): an fp32 master
 * copy plus fp32 m and v = 12 bytes (Rajbhandari et al. 2020, ZeRO, §3.1: "K = 12"). In fp32
 * training the weights are the master copy, so only m and v: 8 bytes.
 */
export function optimizerBytesPerParam(dtype: Params['dtype']): number {
  return dtype === 'fp32' ? 8 : 12;
}

export interface ModelStateBytes {
  readonly weights: number;
  readonly grads: number;
  /** Bytes per gradient element (2 = bf16/fp16, 4 = fp32 main grads). */
  readonly gradsDtypeBytes: number;
  readonly optimizer: number;
  /** Parameters this rank owns before ZeRO sharding (total / t, norms replicated). */
  readonly paramsPerRank: number;
  readonly tp: number;
  readonly zeroGroup: number;
}

/**
 * Weights in the training dtype (2 bytes for bf16), grads at gradsDtypeBytes (the profile's: fp32
 * main grads for Megatron-Core and PyTorch FSDP2, the training dtype for DeepSpeed's ZeRO
 * accounting; strategies/impl.ts), optimizer per optimizerBytesPerParam. ZeRO paper: 2Ψ + 2Ψ + 12Ψ
 * = 16Ψ for mixed-precision Adam; Megatron's distributed-optimizer table (docs
 * distrib_optimizer.md, "float16 param, fp32 grads"): 18 B/param replicated, 6 + 12/d distributed.
 * Tensor parallelism splits every matrix (Megatron splits the embedding and head over the
 * vocabulary too) by t; norms stay replicated. CP replicates weights. ZeRO over the DP(×CP)
 * group of size N divides: stage 1 the optimizer, stage 2 also the grads, stage 3 also the
 * weights, by N (Rajbhandari et al. 2020, Figure 1: P_os, P_os+g, P_os+g+p).
 */
export function modelStateBytes(
  params: Pick<Params, 'strategy' | 'ranks' | 'tp' | 'dp' | 'zero' | 'dtype' | 'layers' | 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'vocab' | 'ffnHidden'> & Partial<Pick<Params, 'impl'>>,
  tp: number = tpDegree(params),
  zeroGroup: number = zeroGroupSize(params),
): ModelStateBytes {
  const c = parameterCounts(params);
  const replicated = params.layers * c.norms + c.finalNorm;
  const paramsPerRank = (c.total - replicated) / tp + replicated;
  const e = DTYPE_BYTES[params.dtype];
  const g = gradsDtypeBytes({ impl: params.impl ?? 'auto', strategy: params.strategy, dtype: params.dtype });
  const z = params.zero;
  const n = Math.max(1, zeroGroup);
  return {
    weights: (paramsPerRank * e) / (z >= 3 ? n : 1),
    grads: (paramsPerRank * g) / (z >= 2 ? n : 1),
    gradsDtypeBytes: g,
    optimizer: (paramsPerRank * optimizerBytesPerParam(params.dtype)) / (z >= 1 ? n : 1),
    paramsPerRank,
    tp,
    zeroGroup: n,
  };
}

// ---------------------------------------------------------------------------------------------
// Activations: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
// Models", §4 and Table 2. Per layer, 16-bit activations and 1-byte dropout masks, GPT shape
// (MHA, 4h MLP):
//   no parallelism                 s·b·h·(34 + 5·a·s/h)
//   TP                             s·b·h·(10 + 24/t + 5·a·s/(h·t))
//   TP + SP                        s·b·h·(34/t + 5·a·s/(h·t))
//   TP + selective recompute       s·b·h·(10 + 24/t)
//   TP + SP + selective recompute  s·b·h·34/t
//   full recompute                 s·b·h·2
// Where the 34 comes from (§4.1): attention 11·sbh + 5·a·s²·b, MLP 19·sbh, two LayerNorms 4·sbh.
// Of the 34, 10 are replicated under TP (the two LayerNorm inputs 4, the attention and MLP inputs
// 2 + 2: 8 bytes in 16-bit, plus two 1-byte dropout masks) and 24 are split by t (all 16-bit).
// The 5·a·s²·b score term is the softmax output (2), its dropout mask (1) and dropout output (2).
// For other element sizes e we scale only the 16-bit terms (our generalisation; e = 2 gives the
// paper's numbers exactly): replicated 4e + 2, split 12e, score (2e + 1), full recompute e.

export interface ActivationRowInput {
  /** Tokens the formula sees (the paper's s). */
  readonly s: number;
  readonly b: number;
  readonly h: number;
  readonly a: number;
  /** TP degree (1 = no TP). */
  readonly t: number;
  /** Sequence parallelism inside the TP group (Megatron SP): shards the replicated 10·sbh. */
  readonly sp: boolean;
  readonly recompute: Recompute;
  /** Bytes per activation element; 2 (the paper's 16-bit) unless given. */
  readonly e?: number;
}

export interface ActivationRow {
  /** Everything but the attention-score term, bytes per layer. */
  readonly nonScore: number;
  /** The 5·a·s²·b/t score/softmax/dropout term (0 under selective or full recompute), bytes per layer. */
  readonly score: number;
  /** nonScore + score: the Table 2 entry. */
  readonly total: number;
}

/** One row of Korthikanti et al. 2022 Table 2, bytes per layer (see the block comment above). */
export function korthikantiRow(x: ActivationRowInput): ActivationRow {
  const e = x.e ?? 2;
  const sbh = x.s * x.b * x.h;
  if (x.recompute === 'full') {
    // Only the layer input is kept. The paper lists s·b·h·2; with SP that input is the
    // sequence-sharded one, so it is divided by t as well (our reading of §4.3 for SP).
    const nonScore = (e * sbh) / (x.sp ? x.t : 1);
    return { nonScore, score: 0, total: nonScore };
  }
  const replicated = 4 * e + 2; // 10 for 16-bit
  const split = 12 * e; // 24 for 16-bit
  const nonScore = sbh * ((x.sp ? replicated / x.t : replicated) + split / x.t);
  const score = x.recompute === 'selective' ? 0 : scoreTermBytes(x.a, x.s, x.s, x.b, e) / x.t;
  return { nonScore, score, total: nonScore + score };
}

/** Bytes per score element: softmax output (e) + dropout mask (1) + dropout output (e); 5 for 16-bit. */
export function scoreBytesPerElement(e: number): number {
  return 2 * e + 1;
}

/**
 * Korthikanti's 5·a·s²·b generalised to a rectangle of queries × keys (a heads, b sequences):
 * what a non-flash kernel materialises for one Q block against one K/V block.
 */
export function scoreTermBytes(heads: number, queries: number, keys: number, b: number, e = 2): number {
  return heads * queries * keys * b * scoreBytesPerElement(e);
}

/**
 * Bytes per logit at the loss's transient peak: the output layer writes logits in the training
 * dtype and cross-entropy computes on an fp32 copy (Megatron-Core and PyTorch upcast the logits
 * before the softmax), so both are alive at once: 2 + 4 = 6 bytes in bf16/fp16, 4 in fp32 (no copy).
 */
export function logitBytesPerElement(dtype: Params['dtype'] = 'bf16'): number {
  return dtype === 'fp32' ? 4 : DTYPE_BYTES[dtype] + 4;
}

/**
 * Logits for the loss: tokens × b × vocab × logitBytesPerElement. Vocab-parallel heads split the
 * vocab over t (Megatron's VocabParallelEmbedding / vocab-parallel cross-entropy).
 */
export function logitsBytes(tokens: number, b: number, vocab: number, t = 1, dtype: Params['dtype'] = 'bf16'): number {
  return (tokens * b * vocab * logitBytesPerElement(dtype)) / t;
}
