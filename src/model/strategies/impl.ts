// Implementation profiles: where Megatron-Core/Transformer Engine, ring-flash-attention, PyTorch
// (TorchTitan) and DeepSpeed run the same strategy differently, the profile picks the variant.
// Every variant below names the code it follows; strategies.test.ts and plan.test.ts reproduce the
// byte counts derived by hand from that code.
//
// Sources read (file + function):
// - TE: transformer_engine/pytorch/attention/dot_product_attention/context_parallel.py,
//   AttnFuncWithCPAndKVP2P.forward/backward, AttnFuncWithCPAndKVAllGather.forward/backward,
//   AttnFuncWithCPAndQKVOA2A.forward (head assertion).
// - ring-flash-attention: ring_flash_attn/ring_flash_attn.py ring_flash_attn_backward,
//   zigzag_ring_flash_attn.py zigzag_ring_flash_attn_backward, stripe_flash_attn.py
//   stripe_flash_attn_backward, llama3_flash_attn_varlen.py llama3_flash_attn_varlen_backward.
// - PyTorch: torch/distributed/tensor/experimental/_context_parallel/_attention.py,
//   _templated_ring_attention, _templated_ring_attention_backward, _AllGatherRotater,
//   _AllToAllRotater, _ContextParallelOptions (rotate_method = ALL_GATHER, enable_load_balance = True).
// - DeepSpeed: deepspeed/sequence/layer.py single_all_to_all, DistributedAttention.
// - Megatron-Core: megatron/core/tensor_parallel/layers.py
//   LinearWithGradAccumulationAndAsyncCommunication.backward; docs distrib_optimizer.md.

import type { ImplId, Params, StrategyId } from '../params.ts';

export const IMPLS: readonly ImplId[] = ['megatron-te', 'ring-flash-attn', 'pytorch', 'deepspeed'];

export const IMPL_NAMES: Record<ImplId, string> = {
  'megatron-te': 'Megatron-Core + Transformer Engine',
  'ring-flash-attn': 'ring-flash-attention (zhuzilin)',
  pytorch: 'PyTorch context_parallel / TorchTitan',
  deepspeed: 'DeepSpeed',
};

/**
 * The profile used when Params.impl is 'auto': for each strategy, the implementation that runs it
 * in practice. Contiguous ring and striped exist only in ring-flash-attention (ring_flash_attn_func,
 * stripe_flash_attn_func); zigzag, all-gather and Megatron SP are Megatron-Core's (cp_comm_type p2p
 * with its 2·cp split, all_gather, --sequence-parallel); Ulysses is DeepSpeed's DistributedAttention;
 * USP is yunchang's LongContextAttention, built on ring-flash-attention's kernels.
 */
export const DEFAULT_IMPL: Record<StrategyId, ImplId> = {
  allgather: 'megatron-te',
  ring: 'ring-flash-attn',
  zigzag: 'megatron-te',
  striped: 'ring-flash-attn',
  ulysses: 'deepspeed',
  'megatron-sp': 'megatron-te',
  usp: 'ring-flash-attn',
};

export function resolveImpl(params: Pick<Params, 'impl' | 'strategy'>): ImplId {
  return params.impl === 'auto' || params.impl === undefined ? (DEFAULT_IMPL[params.strategy] ?? 'megatron-te') : params.impl;
}

/**
 * How a ring (ring, zigzag, striped, USP's ring) runs its K/V and dK/dV rotations.
 * - forwardKv: 'ring' = P−1 hops to rank r+1; 'all-gather' = one all-gather issued at step 0 and
 *   overlapping its compute (PyTorch's default _AllGatherRotater).
 * - backwardKv: 'ring' = P−1 hops again in the forward direction (ring-flash-attention);
 *   'reverse' = P−1 hops to rank r−1, starting from the last forward block, which is saved
 *   (TE AttnFuncWithCPAndKVP2P: send_dst = rank−1 in backward, kv = p2p_comm_buffers[-1] saved);
 *   'all-gather' = gathered again (PyTorch: a new _AllGatherRotater in the backward).
 * - dkvFp32: dK/dV partial sums travel in fp32 (ring-flash-attention: dk = block_dk_buffer.to(float32);
 *   PyTorch: accum_dtype = float32 when convert_to_f32) instead of the training dtype (TE: dkv in
 *   p2p_comm_buffers has kv.dtype).
 * - dkvHome: a P-th dK/dV hop takes each block's sum home (ring-flash-attention sends dK/dV every
 *   step including the last; PyTorch waits for dkv_rotater.next_buffer() after the loop); TE's
 *   reversed ring ends on the owner, so P−1 hops.
 * - dkvKind: the collective carrying dK/dV (PyTorch rotates them with _AllToAllRotater,
 *   ft_c.permute_tensor, an all-to-all with one destination).
 * - forwardKvRetained: received K/V blocks stay allocated until the forward ends (TE keeps
 *   p2p_comm_buffers = [None] * cp_size, one new buffer per step; PyTorch keeps the gathered buffer)
 *   instead of streaming through two buffers (ring-flash-attention's next_k, next_v).
 * - backwardKvRetained: likewise in the backward (PyTorch's gathered buffer).
 */
export interface RingVariant {
  readonly forwardKv: 'ring' | 'all-gather';
  readonly backwardKv: 'ring' | 'reverse' | 'all-gather';
  readonly dkvFp32: boolean;
  readonly dkvHome: boolean;
  readonly dkvKind: 'send-recv' | 'all-to-all';
  readonly forwardKvRetained: boolean;
  readonly backwardKvRetained: boolean;
}

export const RING_VARIANTS: Record<Exclude<ImplId, 'deepspeed'>, RingVariant> = {
  'ring-flash-attn': { forwardKv: 'ring', backwardKv: 'ring', dkvFp32: true, dkvHome: true, dkvKind: 'send-recv', forwardKvRetained: false, backwardKvRetained: false },
  'megatron-te': { forwardKv: 'ring', backwardKv: 'reverse', dkvFp32: false, dkvHome: false, dkvKind: 'send-recv', forwardKvRetained: true, backwardKvRetained: false },
  pytorch: { forwardKv: 'all-gather', backwardKv: 'all-gather', dkvFp32: true, dkvHome: true, dkvKind: 'all-to-all', forwardKvRetained: true, backwardKvRetained: true },
};

/**
 * Why `impl` cannot run `strategy`, or null. Head-count rules of Ulysses-style all-to-alls are
 * checked by the strategy builders (ulyssesHeadReason), since they need the shape.
 */
export function implStrategyReason(strategy: StrategyId, impl: ImplId): string | null {
  const name = IMPL_NAMES[impl];
  switch (strategy) {
    case 'ring':
      if (impl === 'megatron-te')
        return 'Megatron-Core always splits the sequence into 2·cp chunks, head and tail (get_batch_on_this_cp_rank), so its p2p ring is the zigzag ring: choose zigzag, or impl ring-flash-attn / pytorch for the contiguous ring.';
      if (impl === 'deepspeed') return 'DeepSpeed has no ring attention (its sequence parallelism is Ulysses): choose impl ring-flash-attn or pytorch.';
      return null;
    case 'zigzag':
      return impl === 'deepspeed' ? 'DeepSpeed has no ring attention (its sequence parallelism is Ulysses): choose impl megatron-te, ring-flash-attn or pytorch.' : null;
    case 'striped':
      return impl === 'ring-flash-attn' ? null : `${name} has no striped layout (only ring-flash-attention's stripe_flash_attn_func has): choose impl ring-flash-attn.`;
    case 'allgather':
      if (impl === 'pytorch')
        return "PyTorch's all-gather is a rotate method of its ring (set_rotate_method(\"allgather\"), the default): it is what impl pytorch runs for zigzag. Choose zigzag, or impl megatron-te / ring-flash-attn for Llama 3's all-gather + reduce-scatter.";
      if (impl === 'deepspeed') return 'DeepSpeed has no all-gather K/V context parallelism: choose impl megatron-te or ring-flash-attn.';
      return null;
    case 'ulysses':
      if (impl === 'pytorch') return "PyTorch's context_parallel has no head all-to-all (set_rotate_method(\"alltoall\") still rotates K/V around a ring): choose impl deepspeed or megatron-te.";
      if (impl === 'ring-flash-attn') return 'ring-flash-attention has no Ulysses all-to-all: choose impl deepspeed or megatron-te.';
      return null;
    case 'megatron-sp':
      return impl === 'megatron-te' ? null : `Megatron SP (--sequence-parallel with TP) is Megatron-Core's; ${name} does not run it: choose impl megatron-te.`;
    case 'usp':
      if (impl === 'pytorch' || impl === 'deepspeed') return `${name} has no hybrid Ulysses × ring: choose impl megatron-te (cp_comm_type a2a+p2p) or ring-flash-attn (yunchang).`;
      return null;
  }
}

/**
 * Bytes per parameter of the gradients the optimizer reduces and holds.
 * - megatron-te: fp32 main grads (main_grad buffer; with --bf16 Megatron accumulates and reduces
 *   grads in fp32), so Megatron's distributed-optimizer table gives 18 B/param without the
 *   distributed optimizer and 6 + 12/d with it (docs distrib_optimizer.md, "float16 param, fp32 grads").
 * - pytorch: FSDP2 as TorchTitan configures it (mixed_precision_reduce = "float32"): grads reduced
 *   and kept in fp32 with the fp32 sharded parameters.
 * - deepspeed, ring-flash-attn: the ZeRO paper's accounting, grads in the training dtype
 *   (Rajbhandari et al. 2020, §3.1: 2Ψ fp16 grads); ring-flash-attention is an attention library
 *   and leaves the gradients to the trainer.
 * fp32 training has 4-byte grads everywhere.
 */
export function gradsDtypeBytes(params: Pick<Params, 'impl' | 'strategy' | 'dtype'>): number {
  if (params.dtype === 'fp32') return 4;
  const impl = resolveImpl(params);
  return impl === 'megatron-te' || impl === 'pytorch' ? 4 : 2;
}

export interface ImplKnob {
  readonly framework: string;
  readonly code: string;
  readonly note?: string;
}

/** The switches that select this strategy in this implementation (checked against each project's source). */
export function implKnobs(strategy: StrategyId, impl: ImplId): ImplKnob[] {
  switch (impl) {
    case 'megatron-te': {
      const cp = '--context-parallel-size P';
      if (strategy === 'allgather') return [{ framework: 'Megatron-Core', code: `${cp} --cp-comm-type all_gather`, note: 'TE AttnFuncWithCPAndKVAllGather' }];
      if (strategy === 'ulysses') return [{ framework: 'Megatron-Core', code: `${cp} --cp-comm-type a2a`, note: 'TE asserts num_heads % cp_size == 0 for Q and for K/V' }];
      if (strategy === 'usp') return [{ framework: 'Megatron-Core', code: `${cp} --cp-comm-type a2a+p2p --hierarchical-context-parallel-sizes U R` }];
      if (strategy === 'megatron-sp') return [{ framework: 'Megatron-LM', code: '--tensor-model-parallel-size t --sequence-parallel' }];
      return [{ framework: 'Megatron-Core', code: `${cp} --cp-comm-type p2p`, note: 'TE AttnFuncWithCPAndKVP2P; backward ring reversed, dK/dV in bf16' }];
    }
    case 'ring-flash-attn': {
      const fn: Partial<Record<StrategyId, string>> = {
        ring: 'ring_flash_attn_func(q, k, v, causal=True, group=cp_group)',
        zigzag: 'zigzag_ring_flash_attn_func(q, k, v, causal=True, group=cp_group)',
        striped: 'stripe_flash_attn_func(q, k, v, causal=True, group=cp_group)',
        allgather: 'llama3_flash_attn_varlen_func(q, k, v, …, heads_k_stride, local_k_slice, …)',
        usp: 'yunchang LongContextAttention(ring_impl_type="zigzag")  # ulysses_degree × ring_degree',
      };
      const code = fn[strategy];
      if (!code) return [];
      return [{ framework: 'ring-flash-attention', code, note: strategy === 'allgather' ? 'dK/dV reduce-scattered in the training dtype' : 'dK/dV accumulate and travel in fp32' }];
    }
    case 'pytorch':
      if (strategy === 'ring')
        return [
          {
            framework: 'PyTorch',
            code: '_cp_options.enable_load_balance = False  # private option\nwith context_parallel(mesh, buffers=[q, k, v], buffer_seq_dims=[2, 2, 2]): …',
            note: 'the contiguous layout; by default the load balancer applies the head-tail (zigzag) order',
          },
        ];
      return [
        { framework: 'PyTorch', code: 'set_rotate_method("allgather")  # the default\nwith context_parallel(mesh, buffers=[q, k, v], buffer_seq_dims=[2, 2, 2]): …', note: 'K/V all-gathered in forward and again in backward; fp32 dK/dV rotated with all-to-all' },
        { framework: 'TorchTitan', code: 'parallelism.context_parallel_degree = P\nparallelism.context_parallel_rotate_method = "allgather"' },
      ];
    case 'deepspeed':
      return [{ framework: 'DeepSpeed', code: 'DistributedAttention(local_attention, sequence_process_group)', note: 'single_all_to_all splits heads by the group size' }];
  }
}
