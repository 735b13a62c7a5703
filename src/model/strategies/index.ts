// The strategy registry: Params -> Schedule for every SP/CP family.
//
// Conventions every schedule follows (consumers: the GPU runner, the scene, the cost model):
// - Steps: forward steps, then the loss steps (phase 'loss': local cross-entropy, then an
//   all-reduce of (loss sum, token count) when P > 1), then backward steps. One layer's attention
//   is described at block granularity: the step count depends on ranks only, never on seq.
// - Timing: a collective listed in step t is in flight during step t; its data is usable from
//   step t+1. Ring sends overlap the compute of the same step; an all-gather or all-to-all that
//   attention must wait for has a step of its own with no compute.
// - Transfers: `tokens` is a set the source holds at that moment (its shard, a block it
//   received, or an output/gradient it computed), by global position; `src !== dst` always (data a
//   rank keeps is never listed), and transfers with no tokens are omitted. The receiver stores the
//   tokens in the listed order; RankCompute.q/kv name tokens by global position, so a consumer
//   finds each one among what the rank holds (own shard + received + computed).
// - Holdings: a rank starts the forward with Q, K, V (and X) of its shard for all heads. In the
//   backward, K/V blocks that arrived by ring send or all-gather are gone (ring-flash-attention,
//   Transformer Engine and PyTorch re-communicate them), except the blocks listed in
//   ValidSchedule.savedKv (Transformer Engine saves the last forward block and starts its backward
//   ring from it); head-sharded tensors from an all-to-all (Ulysses, USP) and the full-sequence
//   Q, K, V that Megatron SP projects from its all-gathered X are saved activations and stay.
//   strategies.test.ts replays every schedule, for every profile, under exactly these rules.
// - Heads: RankCompute.heads and Q/O/dO/dQ transfers use query-head ranges; K/V/dK/dV transfers
//   use K/V-head ranges: the K/V heads read by the query heads of the rank that will compute
//   with them (K, V) or that computed them (dK, dV); GQA: query head h reads K/V head
//   floor(h·kvHeads/heads), so with more head shards than K/V heads a K/V head is replicated. X
//   transfers (Megatron SP) carry the whole hidden vector and list all query heads.
// - Bytes = tokens × heads in range × headDim × microBatch × dtype bytes (Transfer.dtype when the
//   wire type differs: fp32 dK/dV); X: tokens × hidden × microBatch × dtype bytes; loss: 8 (two
//   fp32 numbers) per hop of a ring all-reduce.
// - Overlap: Collective.overlapsCompute says whether a collective runs under the step's compute;
//   absent, send-recv does and the rest do not.
// - Tiles = tilesFor(q, kv), skipped tiles included. Backward compute entries describe dQ, dK, dV
//   for the same q × kv tiles as the forward.
// - Ring family backward (ring, zigzag, striped, USP's ring) follows the implementation profile
//   (Params.impl, strategies/impl.ts RING_VARIANTS): ring-flash-attention rotates K,V again and the
//   fp32 dK,dV partial sums follow one hop behind with a final hop home (P hops); Transformer
//   Engine reverses the ring from the saved last block, K,V and bf16 dK,dV P−1 hops each, landing
//   on the owner; PyTorch all-gathers K,V again and rotates fp32 dK,dV with a one-destination
//   all-to-all, P hops. Profiles that do not run a strategy return valid: false with the reason.
// - RankShard.node: ranks / gpusPerNode of the GPU preset, except USP: the Ulysses group.
// - Never throws for a Params that parsed: a strategy that cannot run returns valid: false and a
//   reason. Tokens fewer than ranks are fine: some ranks then hold empty shards.

import type { Params, StrategyId } from '../params.ts';
import { STRATEGY_IDS } from '../params.ts';
import type { Schedule, StrategyInfo } from '../schedule.ts';
import { buildAllgather } from './allgather.ts';
import { buildMegatronSp } from './megatron-sp.ts';
import { buildRing } from './ring.ts';
import { buildStriped } from './striped.ts';
import { buildUlysses } from './ulysses.ts';
import { buildUsp } from './usp.ts';
import { buildZigzag } from './zigzag.ts';

export const STRATEGIES: Record<StrategyId, StrategyInfo> = {
  allgather: {
    id: 'allgather',
    name: 'All-gather K/V (Llama 3 CP)',
    description:
      'Every rank all-gathers the K and V of the whole sequence, attends its own (zigzag-balanced) queries to them with the global causal mask, and reduce-scatters dK and dV in the backward pass. Simple and mask-agnostic, and cheap in memory with GQA\'s few K/V heads, but the all-gather sits on the critical path.',
    source: 'Llama 3 paper ("The Llama 3 Herd of Models", 2024, §3.3.2 context parallelism); Megatron-Core cp_comm_type="all_gather" (Transformer Engine AttnFuncWithCPAndKVAllGather).',
    layout: 'zigzag',
    build: buildAllgather,
  },
  ring: {
    id: 'ring',
    name: 'Ring attention',
    description:
      'Each rank keeps its contiguous block of queries while the K/V blocks travel around a ring, one hop per step, merged with the online softmax; the sends overlap the block compute. With contiguous shards the causal mask leaves early ranks idle while the last rank does all P blocks.',
    source: 'Liu, Zaharia, Abbeel 2023, "Ring Attention with Blockwise Transformers for Near-Infinite Context"; Megatron-Core cp_comm_type="p2p".',
    layout: 'contiguous',
    build: buildRing,
  },
  zigzag: {
    id: 'zigzag',
    name: 'Zigzag ring',
    description:
      'The sequence is cut into 2P chunks and rank r holds chunks r and 2P−1−r, one early and one late, then K/V rotate around the ring as in ring attention. Every rank gets the same share of the causal triangle and the same work in every step.',
    source: 'zhuzilin/ring-flash-attention (zigzag_ring_flash_attn); Megatron-Core 2·cp sequence split; PyTorch context_parallel load balancer.',
    layout: 'zigzag',
    build: buildZigzag,
  },
  striped: {
    id: 'striped',
    name: 'Striped ring',
    description:
      'Token i lives on rank i mod P, so every rank holds a stripe spread over the whole sequence, and K/V stripes rotate around the ring. Every block is about half masked on every rank, which balances the causal work.',
    source: 'Brandon et al. 2023, "Striped Attention: Faster Ring Attention for Causal Transformers".',
    layout: 'striped',
    build: buildStriped,
  },
  ulysses: {
    id: 'ulysses',
    name: 'DeepSpeed-Ulysses (all-to-all)',
    description:
      'An all-to-all turns sequence-sharded Q, K, V into head-sharded ones, so each rank runs ordinary causal attention over the whole sequence for heads/P heads, and a second all-to-all returns the output. The rank count must divide the heads; PyTorch\'s set_rotate_method("alltoall") is still a K/V ring, not this head sharding.',
    source: 'Jacobs et al. 2023, "DeepSpeed Ulysses: System Optimizations for Enabling Training of Extreme Long Sequence Transformer Models"; Megatron-Core cp_comm_type="a2a".',
    layout: 'contiguous',
    build: buildUlysses,
  },
  'megatron-sp': {
    id: 'megatron-sp',
    name: 'Megatron SP (with TP)',
    description:
      'Inside a tensor-parallel group the LayerNorm and dropout regions are sharded by sequence, with an all-gather before each column-parallel linear and a reduce-scatter after each row-parallel one in place of TP\'s all-reduce. Activations shrink by t at the same communication volume, but attention itself stays head-sharded over the full sequence.',
    source: 'Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", §4.2.2.',
    layout: 'contiguous',
    build: buildMegatronSp,
  },
  usp: {
    id: 'usp',
    name: 'USP: Ulysses × ring',
    description:
      'Ranks form groups of U consecutive ranks (inside a node) that all-to-all to head shards, and ranks with the same head shard run a zigzag-balanced K/V ring across the groups. This lifts Ulysses\' head-count ceiling and keeps the heavy all-to-all on fast links.',
    source: 'Fang & Zhao 2024, "USP: A Unified Sequence Parallelism Approach for Long Context Generative AI".',
    layout: 'zigzag',
    build: buildUsp,
  },
};

export function strategyList(): StrategyInfo[] {
  return STRATEGY_IDS.map((id) => STRATEGIES[id]);
}

export function buildSchedule(params: Params): Schedule {
  const info = STRATEGIES[params.strategy] ?? STRATEGIES.ring;
  try {
    return info.build(params);
  } catch (error) {
    // A bug must not take the page down: report it as a reason instead.
    return {
      valid: false,
      strategy: info.id,
      ranks: params.ranks,
      seq: params.seq,
      reason: `internal error while planning ${info.name}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
