// DeepSpeed-Ulysses (Jacobs et al. 2023, "DeepSpeed Ulysses: System Optimizations for Enabling
// Training of Extreme Long Sequence Transformer Models"; Megatron-Core cp_comm_type="a2a"):
// all-to-all Q,K,V from sequence-sharded to head-sharded, plain full-sequence attention on a/P
// heads per rank, all-to-all O back. Built as the hybrid of common.ts with one ring position.

import type { Params } from '../params.ts';
import type { Schedule } from '../schedule.ts';
import { contiguousLayout } from '../layout.ts';
import { a2aHeadReason, ctxOf, finish, implReason, tpHeadShareReason, headsText, hybridDrafts, invalid, kvHeadsFor, lossDrafts, nodeByPreset, queryHeadsOf } from './common.ts';

export function buildUlysses(params: Params): Schedule {
  const ctx = ctxOf('ulysses', params);
  const { P, seq } = ctx;
  const reason = implReason(ctx) ?? a2aHeadReason(ctx, P, 'Ulysses', 'rank count') ?? tpHeadShareReason(params, P, 'Ulysses', 'rank count');
  if (reason) return invalid(ctx, reason);
  const shards = contiguousLayout(seq, P);
  const qh = queryHeadsOf(ctx, 0, P);
  const perRank = qh.end - qh.start;
  const replicated = P > ctx.kvHeads ? ` With ${ctx.kvHeads} K/V heads over ${P} ranks, each K/V head is sent to the ${P / ctx.kvHeads} ranks whose query heads read it (replicated).` : '';
  const kvNote = `rank 0, for example, gets query ${headsText(qh)} and the K/V ${headsText(kvHeadsFor(ctx, qh))} they read`;
  const { forward, backward } = hybridDrafts(ctx, {
    U: P,
    R: 1,
    groupSets: contiguousLayout(seq, 1),
    shards,
    ringText: (_t, phase) =>
      P === 1
        ? phase === 'forward'
          ? `one rank computes causal attention of all ${seq} tokens for all ${ctx.heads} heads; nothing to communicate.`
          : `one rank computes dQ, dK and dV for all ${seq} tokens; nothing to communicate.`
        : phase === 'forward'
          ? `each rank runs ordinary causal attention over the whole ${seq}-token sequence for its ${perRank} query head${perRank === 1 ? '' : 's'} (rank 0: ${headsText(qh)}): the mask is the usual one and nothing moves during the compute.`
          : `backward: each rank computes dQ, dK and dV over the whole sequence for its ${perRank} query head${perRank === 1 ? '' : 's'}, from the head-sharded Q, K, V, O it saved in the forward pass.`,
    a2aText: {
      qkv: `all-to-all over the ${P} ranks turns sequence-sharded Q, K, V [${seq}/${P} tokens, all heads] into head-sharded [${seq} tokens, ${ctx.heads}/${P} heads]: rank i sends rank j its tokens' Q, K, V for j's heads; ${kvNote}.${replicated} Attention cannot start until it completes.`,
      o: `all-to-all of the attention output O back from head-sharded to sequence-sharded: rank j sends rank i the output of i's tokens for j's heads, so every rank again has all heads of its own tokens for the output projection.`,
      dO: `backward: all-to-all of the output gradient dO from sequence-sharded to head-sharded (the conjugate of the forward O all-to-all).`,
      grads: `backward: all-to-all of dQ, dK, dV back from head-sharded to sequence-sharded (the conjugate of the forward Q,K,V all-to-all)${P > ctx.kvHeads ? '; ranks that shared a replicated K/V head send partial dK, dV that the owning rank sums' : ''}.`,
    },
    homeText: '',
  });
  return finish(ctx, shards, nodeByPreset(ctx), [...forward, ...lossDrafts(ctx, null), ...backward]);
}
