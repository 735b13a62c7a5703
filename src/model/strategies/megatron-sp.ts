// Megatron-LM sequence parallelism with tensor parallelism (Korthikanti et al. 2022, "Reducing
// Activation Recomputation in Large Transformer Models", §4.2.2 and Fig. 5): in a TP group of t
// ranks (here t = ranks), LayerNorm/dropout regions are sharded on the sequence axis; an
// all-gather g of X (s·b·h) precedes each column-parallel linear and a reduce-scatter ḡ follows
// each row-parallel linear, 2 AG + 2 RS per layer forward. Backward: the conjugates (2 AG of the
// output gradients, 2 RS of the input gradients) plus 2 more all-gathers: the column-parallel
// linears saved only their sequence-sharded input and gather it again for the weight gradient
// (Megatron-Core megatron/core/tensor_parallel/layers.py,
// LinearWithGradAccumulationAndAsyncCommunication.forward saves `input`, backward calls
// dist_all_gather_func(all_gather_buffer, input) before grad_output.t().matmul(total_input)):
// 4 AG + 2 RS. Attention itself is head-sharded by TP over the full sequence.

import type { Params } from '../params.ts';
import type { Collective, Schedule, TokenSet, Transfer } from '../schedule.ts';
import { contiguousLayout } from '../layout.ts';
import {
  allHeads,
  collective,
  ctxOf,
  draft,
  finish,
  headShardReason,
  headsText,
  implReason,
  invalid,
  lossDrafts,
  nodeByPreset,
  fitted,
  putXfer,
  queryHeadsOf,
  range,
  rankCompute,
  transferList,
  type Ctx,
  type Draft,
} from './common.ts';

/** All-gather: rank r's shard to everyone. Reduce-scatter: everyone's partial sum of shard j to j. */
function xTransfers(ctx: Ctx, shards: readonly TokenSet[], kind: 'all-gather' | 'reduce-scatter'): Transfer[] {
  const transfers = transferList(ctx.P * ctx.P);
  let n = 0;
  const heads = allHeads(ctx.heads);
  for (let src = 0; src < ctx.P; src++)
    for (let dst = 0; dst < ctx.P; dst++) n = putXfer(transfers, n, ctx, src, dst, 'X', (kind === 'all-gather' ? shards[src] : shards[dst]) ?? [], heads);
  return fitted(transfers, n);
}

export function buildMegatronSp(params: Params): Schedule {
  const ctx = ctxOf('megatron-sp', params);
  const { P, seq } = ctx;
  const notRun = implReason(ctx);
  if (notRun) return invalid(ctx, notRun);
  const reason = headShardReason(ctx, P, 'Megatron SP', 'TP=SP degree (ranks)');
  if (reason) return invalid(ctx, reason);
  const shards = contiguousLayout(seq, P);
  // After the all-gather the buffer holds shards 0..P−1 back to back: the whole sequence in order.
  const full: TokenSet = seq > 0 ? [{ start: 0, count: seq, stride: 1 }] : [];
  const compute = range(P).map((r) => rankCompute(r, full, full, queryHeadsOf(ctx, r, P)));
  const per = ctx.heads / P;
  const heads0 = headsText(queryHeadsOf(ctx, 0, P));
  const attn = `each rank projects the whole sequence to Q, K, V for its ${per} query head${per === 1 ? '' : 's'} (column-parallel; rank 0: ${heads0}) and runs ordinary causal attention over all ${seq} tokens: TP shards attention by heads, SP does not shard its sequence axis.`;
  // Every all-gather of X moves the same P·(P−1) transfers, and so does every reduce-scatter: each
  // list is built once (only when P > 1) and shared by the collectives that repeat it.
  let agTransfers: Transfer[] | undefined;
  let rsTransfers: Transfer[] | undefined;
  const ag = (label: string): Collective => collective('all-gather', range(P), label, (agTransfers ??= xTransfers(ctx, shards, 'all-gather')));
  const rs = (label: string): Collective => collective('reduce-scatter', range(P), label, (rsTransfers ??= xTransfers(ctx, shards, 'reduce-scatter')));
  const sbh = `s·b·h = ${seq}·b·${ctx.hidden}`;
  let forward: Draft[];
  let backward: Draft[];
  if (P === 1) {
    forward = [draft('forward', `with t = 1 there is nothing to shard: ${attn}`, [], compute)];
    backward = [draft('backward', `backward: one rank computes dQ, dK and dV for all ${seq} tokens; nothing to communicate.`, [], compute)];
  } else {
    forward = [
      draft('forward', `all-gather X (the LayerNorm output, ${sbh}) over the ${P} TP ranks: the sequence-parallel region holds ${seq}/${P} tokens per rank, but the column-parallel Q,K,V projection needs every token (the g operator).`, [ag('all-gather X (before QKV)')], []),
      draft('forward', attn, [], compute),
      draft('forward', `after the row-parallel output projection each rank has partial sums for every token; reduce-scatter X over the ${P} ranks sums them and leaves each rank its own ${seq}/${P} tokens for dropout, residual and LayerNorm (the ḡ operator; TP alone would all-reduce).`, [rs('reduce-scatter X (after attention out-proj)')], []),
      draft('forward', `all-gather X (the second LayerNorm output, ${sbh}) again, because the column-parallel first MLP linear needs every token.`, [ag('all-gather X (before MLP)')], []),
      draft('forward', `each rank runs its slice of the MLP (column- then row-parallel) on all tokens; reduce-scatter X sums the partial outputs and returns each rank's ${seq}/${P} tokens. 2 all-gathers + 2 reduce-scatters per layer: the same volume as TP's 2 all-reduces.`, [rs('reduce-scatter X (after MLP)')], []),
    ];
    backward = [
      draft('backward', `backward: all-gather the gradient of the MLP output (conjugate of the forward reduce-scatter), since every rank's MLP slice needs it for all tokens.`, [ag('all-gather dX (MLP output grad)')], []),
      draft('backward', `backward: all-gather X (the second LayerNorm output) again: the first MLP linear's weight gradient needs every token's input, and the forward kept only this rank's ${seq}/${P} tokens (Megatron-Core re-gathers it in LinearWithGradAccumulationAndAsyncCommunication.backward, overlapping the input-gradient GEMM).`, [ag('all-gather X again (MLP weight grad)')], []),
      draft('backward', `backward: each rank back-propagates through its MLP slice; reduce-scatter sums the partial input gradients and leaves each rank its own tokens (conjugate of the forward all-gather).`, [rs('reduce-scatter dX (MLP input grad)')], []),
      draft('backward', `backward: all-gather the gradient of the attention block output for the row-parallel output projection (conjugate of the forward reduce-scatter).`, [ag('all-gather dX (attention output grad)')], []),
      draft('backward', `backward: each rank computes dQ, dK, dV over the full sequence for its ${per} query head${per === 1 ? '' : 's'}, then the input gradient of its column-parallel Q,K,V slice.`, [], compute),
      draft('backward', `backward: all-gather X (the first LayerNorm output) again for the weight gradient of the column-parallel Q,K,V projection, which saved only the sequence-sharded input.`, [ag('all-gather X again (QKV weight grad)')], []),
      draft('backward', `backward: reduce-scatter the partial gradients of the LayerNorm output over the ${P} ranks, leaving each rank the gradient of its own ${seq}/${P} tokens (conjugate of the first all-gather). 4 all-gathers + 2 reduce-scatters in the backward: half as much again as the forward.`, [rs('reduce-scatter dX (QKV input grad)')], []),
    ];
  }
  return finish(ctx, shards, nodeByPreset(ctx), [...forward, ...lossDrafts(ctx, null), ...backward]);
}
