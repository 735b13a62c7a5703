// USP, hybrid Ulysses × ring (Fang & Zhao 2024, "USP: A Unified Sequence Parallelism Approach for
// Long Context Generative AI"): P = U·R. Ulysses all-to-all inside groups of U consecutive ranks
// (fast links, one node), a K/V ring across the R groups among ranks with the same head shard.
// Causal balance comes from a zigzag layout over the R ring positions (the paper's load-balanced
// reordering): group g holds chunks g and 2R−1−g of 2R, and rank (g, u) holds part u of each.

import type { Params } from '../params.ts';
import type { Schedule, TokenSet } from '../schedule.ts';
import { splitSet, zigzagLayout } from '../layout.ts';
import { a2aHeadReason, ctxOf, finish, implReason, ringExtras, tpHeadShareReason, headsText, hybridDrafts, invalid, kvHeadsFor, lossDrafts, queryHeadsOf } from './common.ts';

export function buildUsp(params: Params): Schedule {
  const ctx = ctxOf('usp', params);
  const { P, seq } = ctx;
  const notRun = implReason(ctx);
  if (notRun) return invalid(ctx, notRun);
  // One rank has nothing to split: treat it as U = 1 rather than rejecting the default U = 2.
  const U = P === 1 ? 1 : Math.floor(params.ulysses);
  if (!(U >= 1) || P % U !== 0)
    return invalid(ctx, `USP needs the Ulysses degree to divide the rank count ${P} (got ${params.ulysses}); the ring degree is ranks / Ulysses degree.`);
  const reason = a2aHeadReason(ctx, U, 'USP', 'Ulysses degree') ?? tpHeadShareReason(params, U, 'USP', 'Ulysses degree');
  if (reason) return invalid(ctx, reason);
  const R = P / U;
  const groupSets = zigzagLayout(seq, R);
  const shards: TokenSet[] = [];
  for (let g = 0; g < R; g++) for (let u = 0; u < U; u++) shards.push(splitSet(groupSets[g] ?? [], u, U));
  const qh = queryHeadsOf(ctx, 0, U);
  const per = qh.end - qh.start;
  const ringName = U === 1 ? 'the ring of all ranks' : `each ring of the ${R} ranks that share a head shard (ranks u, u+${U}, …, one per Ulysses group)`;
  const ringText = (t: number, phase: 'forward' | 'backward'): string => {
    if (R === 1)
      return phase === 'forward'
        ? P === 1
          ? `one rank computes causal attention of all ${seq} tokens for all ${ctx.heads} heads; nothing to communicate.`
          : `each rank runs causal attention over the whole ${seq}-token sequence for its ${per} query head${per === 1 ? '' : 's'}; with a single Ulysses group there is no ring.`
        : `backward: each rank computes dQ, dK and dV over the whole sequence for its ${per} query head${per === 1 ? '' : 's'}${P === 1 ? '; nothing to communicate' : ''}.`;
    const src = t === 0 ? "its own group's K/V (diagonal, causal mask)" : `the K/V of group (g−${t}) mod ${R}, received in the previous step,`;
    if (phase === 'forward') {
      const send = t < R - 1 ? `, while sending that K,V to the same head shard in the next group (rank r → r+${U})` : '; the last block, so each rank normalises its output';
      return `in ${ringName}, the rank of group g attends its group's queries (zigzag chunks g and ${2 * R - 1}−g) to ${src.replace(/,$/, '')}${send}. Zigzag chunks give every rank the same work.`;
    }
    const send = (t < R - 1 ? ` K,V move on to rank r+${U}` : ' No K,V send') + (t >= 1 ? ', and the previous block’s dK,dV partial sums follow one hop behind.' : '.');
    return `backward: in ${ringName}, each rank recomputes its scores against ${src} and adds to dQ and to that block's dK,dV.${send}`;
  };
  const { forward, backward } = hybridDrafts(ctx, {
    U,
    R,
    groupSets,
    shards,
    ringText,
    a2aText: {
      qkv: `${R === 1 ? `all ${U} ranks form one Ulysses group, where` : `inside each Ulysses group of ${U} consecutive ranks (ranks 0–${U - 1}, ${U}–${2 * U - 1}, …; one node each),`} an all-to-all turns sequence-sharded Q, K, V into head-sharded: each rank gets all of its group's tokens for ${per} query head${per === 1 ? '' : 's'} (rank 0: query ${headsText(qh)}, K/V ${headsText(kvHeadsFor(ctx, qh))}).`,
      o: `inside each Ulysses group, all-to-all of O back from head-sharded to sequence-sharded, so each rank holds all heads of its own tokens again.`,
      dO: `backward: inside each Ulysses group, all-to-all of dO from sequence-sharded to head-sharded (conjugate of the O all-to-all).`,
      grads: `backward: inside each Ulysses group, all-to-all of dQ, dK, dV back to sequence-sharded (conjugate of the Q,K,V all-to-all)${U > ctx.kvHeads ? '; partial dK, dV of replicated K/V heads are summed by the owner' : ''}.`,
    },
    homeText: `backward: each group's dK,dV, now summed over all ${R} ring positions, take one last hop home (rank r → r+${U}, the group that owns those tokens).`,
  });
  return finish(ctx, shards, (rank) => Math.floor(rank / U), [...forward, ...lossDrafts(ctx, 'zigzag'), ...backward], ringExtras(ctx, { U, R, groupSets }));
}
