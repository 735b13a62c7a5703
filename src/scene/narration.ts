// Words that go with the picture: how to say each strategy out loud, what state it transforms
// and which axis it shards, the misconceptions, and the real knobs that turn it on.
// Knob names were checked against each project's source or docs (see comments).

import type { StrategyId } from '../model/params.ts';

export interface Knob {
  readonly framework: string;
  readonly code: string;
  readonly note?: string;
}

export interface Narration {
  readonly title: string;
  readonly sayIt: string;
  /** The state object the step transforms and the axis it shards, as an interview answer would. */
  readonly stateAndAxis: string;
  readonly knobs: readonly Knob[];
}

// Megatron-LM megatron/training/arguments.py: '--context-parallel-size', '--cp-comm-type' (nargs='+',
// default ["p2p"]; help lists "p2p, a2a, allgather or a2a+p2p"; Megatron-Core/Transformer Engine
// compare against "all_gather"), '--hierarchical-context-parallel-sizes', '--sequence-parallel'.
// PyTorch torch.distributed.tensor.experimental: context_parallel(mesh, buffers=…, buffer_seq_dims=…),
// set_rotate_method("allgather" | "alltoall"), default "allgather".
// TorchTitan JobConfig parallelism.context_parallel_degree (and context_parallel_rotate_method).
// DeepSpeed deepspeed.sequence.layer.DistributedAttention(local_attention, sequence_process_group, scatter_idx, gather_idx).
const MEGATRON_CP = '--context-parallel-size P';
const TORCH_CP = 'with context_parallel(mesh, buffers=[q, k, v], buffer_seq_dims=[2, 2, 2]): …';
const TITAN_CP = 'parallelism.context_parallel_degree = P';

export const NARRATION: Record<StrategyId, Narration> = {
  allgather: {
    title: 'All-gather K/V context parallelism (Llama 3)',
    sayIt:
      'Every rank keeps its own queries, all-gathers everybody’s keys and values, and computes attention for its queries against the whole sequence under the global causal mask. In the backward pass the dK and dV go back with a reduce-scatter.',
    stateAndAxis: 'State: the layer’s K and V. Axis: tokens (each rank holds chunks r and 2P−1−r of Q); K/V are briefly replicated in full.',
    knobs: [
      { framework: 'Megatron-Core', code: `${MEGATRON_CP} --cp-comm-type all_gather`, note: 'the help text spells it “allgather”; Megatron-Core and Transformer Engine compare against "all_gather"' },
      { framework: 'PyTorch', code: `set_rotate_method("allgather")  # the default\n${TORCH_CP}`, note: 'gathers K/V like this, but its backward gathers again and rotates fp32 dK/dV instead of a reduce-scatter (the pytorch profile on zigzag)' },
      { framework: 'TorchTitan', code: `${TITAN_CP}\nparallelism.context_parallel_rotate_method = "allgather"` },
    ],
  },
  ring: {
    title: 'Ring attention (P2P)',
    sayIt:
      'Queries stay put; key/value blocks travel around a ring, one hop per step, while each rank computes attention of its queries with the block it currently holds and merges the partial result with the online softmax. With contiguous shards the causal mask leaves early ranks idle.',
    stateAndAxis: 'State: the running softmax (m, l) and the unnormalised output acc per query. Axis: tokens, in P contiguous blocks.',
    knobs: [
      { framework: 'ring-flash-attention', code: 'ring_flash_attn_func(q, k, v, causal=True, group=cp_group)', note: 'the contiguous ring; fp32 dK/dV go round P times' },
      { framework: 'Megatron-Core', code: `${MEGATRON_CP} --cp-comm-type p2p`, note: 'always with the 2·cp head-tail split, i.e. the zigzag ring' },
      { framework: 'PyTorch', code: `set_rotate_method("alltoall")\n${TORCH_CP}`, note: '“alltoall” is still a K/V ring, not Ulysses; the default “allgather” gathers K/V once and rotates fp32 dK/dV' },
      { framework: 'TorchTitan', code: TITAN_CP },
    ],
  },
  zigzag: {
    title: 'Zigzag ring attention (load-balanced)',
    sayIt:
      'The same ring, but the sequence is cut into 2P chunks and rank r takes chunk r and chunk 2P−1−r, a head and a tail. Every rank now owns an equal share of the causal triangle, so no rank waits for the others.',
    stateAndAxis: 'State: (m, l, acc) per query, as in the ring. Axis: tokens, 2P chunks paired head-to-tail; labels and position ids are permuted with the tokens.',
    knobs: [
      { framework: 'Megatron-Core', code: `${MEGATRON_CP} --cp-comm-type p2p`, note: 'Megatron’s 2·cp split is this layout; it needs seq % (2·cp) == 0' },
      { framework: 'PyTorch', code: TORCH_CP, note: 'the load balancer applies the head-tail order for causal attention' },
      { framework: 'TorchTitan', code: TITAN_CP },
    ],
  },
  striped: {
    title: 'Striped attention',
    sayIt:
      'Token i goes to rank i mod P, so every rank holds a thin stripe of the whole sequence. As the K/V stripes go around the ring, each block is about half masked on every rank: the work is balanced without any chunk pairing.',
    stateAndAxis: 'State: (m, l, acc) per query. Axis: tokens, round robin; position ids and targets must be permuted the same way.',
    knobs: [
      { framework: 'Reference code', code: 'zhuzilin/ring-flash-attention: stripe_flash_attn_func(q, k, v, causal=True)', note: 'Brandon et al. 2023; neither Megatron-Core nor PyTorch ships a striped layout' },
    ],
  },
  ulysses: {
    title: 'DeepSpeed-Ulysses (all-to-all)',
    sayIt:
      'An all-to-all turns “my tokens, all heads” into “all tokens, my heads”. Each rank then runs ordinary causal attention over the full sequence for its share of heads, and a second all-to-all turns the output back into token shards.',
    stateAndAxis: 'State: Q, K, V and O. Axis: tokens outside attention, heads inside it; P must divide the heads (K/V heads are replicated when P > K/V heads).',
    knobs: [
      { framework: 'DeepSpeed', code: 'DistributedAttention(local_attention, sequence_process_group)', note: 'the sequence-parallel process group is the Ulysses group' },
      { framework: 'Megatron-Core', code: `${MEGATRON_CP} --cp-comm-type a2a`, note: 'Transformer Engine asserts that CP divides the query and the K/V heads' },
    ],
  },
  'megatron-sp': {
    title: 'Megatron sequence parallelism (with tensor parallelism)',
    sayIt:
      'Inside a tensor-parallel group, the parts TP would replicate (LayerNorm, dropout) are sharded by tokens instead. An all-gather rebuilds the full sequence before the column-parallel linear, and a reduce-scatter splits it again after the row-parallel one; attention itself is split by heads.',
    stateAndAxis: 'State: the hidden activations X between the TP regions. Axis: tokens for LayerNorm/dropout, heads inside attention and the MLP.',
    knobs: [{ framework: 'Megatron-LM', code: '--tensor-model-parallel-size t --sequence-parallel', note: 'SP is only defined together with TP' }],
  },
  usp: {
    title: 'USP: Ulysses × ring',
    sayIt:
      'Ranks form small Ulysses groups (inside a node) that swap tokens for heads with an all-to-all, and the groups form a ring that passes K/V blocks across nodes. The head count no longer caps the degree, and the slow links only carry ring traffic.',
    stateAndAxis: 'State: Q, K, V per head group and (m, l, acc) across the ring. Axis: heads inside a group, tokens across groups.',
    knobs: [
      { framework: 'Megatron-Core', code: `${MEGATRON_CP} --cp-comm-type a2a+p2p --hierarchical-context-parallel-sizes U R` },
      { framework: 'Reference code', code: 'feifeibear/long-context-attention (yunchang): LongContextAttention', note: 'ulysses_degree × ring_degree' },
    ],
  },
};

export const MISCONCEPTIONS: readonly string[] = [
  'Not pipeline parallelism: every rank runs every layer on its share of the tokens; nothing is split by layer.',
  'The causal mask uses GLOBAL token positions. Masking by position inside the shard silently computes a different model (try the local-mask toggle).',
  'The loss needs a reduction: all-reduce (loss sum, token count) over the group; averaging per-rank means is wrong when shards hold different numbers of labelled tokens.',
];

/** The long form of the scene's short headers and legend (also in their tooltips). */
export const READING_KEY: readonly string[] = [
  'One lane per rank (GPU). Q: the rank’s query shard, which stays put. K / V: the key/value block it holds this step, keys in the top half, values in the bottom half. O · m, l: its output accumulator with the running softmax max m and sum l.',
  'Colour = global token position (one ramp from token 0 to the last token), so contiguous, zigzag and striped layouts look different. Block height is proportional to bytes; slanted blocks (▱) are gradients.',
  'Causal work matrix: query blocks down, key blocks across. Empty cells are masked (key after query) and skipped; a cell’s colour is the rank that computed it; bright cells are computed in the current step. The bars under it are each rank’s attention work so far (filled) out of its total (outline).',
];

export function narrationFor(strategy: StrategyId): Narration {
  return NARRATION[strategy];
}
