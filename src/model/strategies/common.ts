// Building blocks shared by the strategy files: byte counts, head ranges, the loss steps, and
// the ring / all-to-all phases that ring, zigzag, striped, Ulysses and USP are made of.
// Conventions are documented at the top of ./index.ts.

import type { Dtype, ImplId, Params, StrategyId } from '../params.ts';
import { DTYPE_BYTES, gpuPreset } from '../params.ts';
import { implStrategyReason, RING_VARIANTS, resolveImpl, type RingVariant } from './impl.ts';
import type {
  Collective,
  CollectiveKind,
  ComputeTile,
  HeadRange,
  InvalidSchedule,
  Phase,
  RankCompute,
  SavedKv,
  RankShard,
  Step,
  TensorKind,
  TokenSet,
  Transfer,
  ValidSchedule,
} from '../schedule.ts';
import { tilesFor, tokenCount } from '../schedule.ts';
import { withoutTrailingToken } from '../layout.ts';

/** The sizes every builder needs, read once from Params. */
export interface Ctx {
  readonly strategy: StrategyId;
  readonly P: number;
  readonly seq: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly hidden: number;
  /** micro-batch × dtype bytes: multiply by elements per sample to get bytes. */
  readonly bytesPerElement: number;
  readonly microBatch: number;
  readonly dtype: Dtype;
  readonly gpusPerNode: number;
  /** The implementation profile (Params.impl resolved for the strategy). */
  readonly impl: ImplId;
}

export function ctxOf(strategy: StrategyId, params: Params): Ctx {
  return {
    strategy,
    P: Math.max(1, Math.floor(params.ranks)),
    seq: Math.max(0, Math.floor(params.seq)),
    heads: params.heads,
    kvHeads: params.kvHeads,
    headDim: params.headDim,
    hidden: params.hidden,
    bytesPerElement: params.microBatch * DTYPE_BYTES[params.dtype],
    microBatch: params.microBatch,
    dtype: params.dtype,
    gpusPerNode: gpuPreset(params).gpusPerNode,
    impl: resolveImpl({ impl: params.impl, strategy }),
  };
}

export const allHeads = (n: number): HeadRange => ({ start: 0, end: n });

/** Query heads of part u of n: [u·a/n, (u+1)·a/n). Callers ensure n divides a. */
export function queryHeadsOf(ctx: Ctx, u: number, n: number): HeadRange {
  const per = ctx.heads / n;
  return { start: u * per, end: (u + 1) * per };
}

/**
 * K/V heads that the query heads `q` read (GQA: query head h uses K/V head floor(h·kvHeads/heads)).
 * When the query heads of one rank fall inside one K/V head (P > kvHeads), this is that one head,
 * replicated on every rank that needs it (as verl and Megatron-Core's a2a do).
 */
export function kvHeadsFor(ctx: Ctx, q: HeadRange): HeadRange {
  const start = Math.floor((q.start * ctx.kvHeads) / ctx.heads);
  const end = Math.floor(((q.end - 1) * ctx.kvHeads) / ctx.heads) + 1;
  return { start, end };
}

const QUERY_SIDE: ReadonlySet<TensorKind> = new Set(['Q', 'O', 'dO', 'dQ']);

/**
 * Bytes on the wire: tokens × (heads in range × headDim) × micro-batch × dtype bytes; for X
 * (hidden-sized activations in Megatron SP) tokens × hidden × micro-batch × dtype bytes; for the
 * loss all-reduce, 2 fp32 numbers (loss sum, token count).
 */
export function transferBytes(ctx: Ctx, tensor: TensorKind, tokens: number, heads: HeadRange, dtype?: Dtype): number {
  if (tensor === 'loss') return 8;
  const perElement = dtype === undefined ? ctx.bytesPerElement : ctx.microBatch * DTYPE_BYTES[dtype];
  if (tensor === 'X') return tokens * ctx.hidden * perElement;
  return tokens * (heads.end - heads.start) * ctx.headDim * perElement;
}

/** A transfer, or nothing when it would carry no tokens (empty shards when seq < P). */
export function xfer(ctx: Ctx, src: number, dst: number, tensor: TensorKind, tokens: TokenSet, heads: HeadRange): Transfer[] {
  const out: Transfer[] = [];
  pushXfer(out, ctx, src, dst, tensor, tokens, heads);
  return out;
}

/**
 * xfer() appended to `out` in place: collectives of P² transfers are built without a throwaway array
 * per transfer. `dtype` is the element type on the wire when it differs from the training dtype.
 */
export function pushXfer(out: Transfer[], ctx: Ctx, src: number, dst: number, tensor: TensorKind, tokens: TokenSet, heads: HeadRange, dtype?: Dtype): void {
  const t = makeXfer(ctx, src, dst, tensor, tokens, heads, dtype);
  if (t !== null) out.push(t);
}

/**
 * pushXfer() into slot `at` of an array sized up front (transferList); returns the next free slot.
 * Collectives of up to 2·P² transfers are built this way without the copies a growing array makes.
 */
export function putXfer(out: Transfer[], at: number, ctx: Ctx, src: number, dst: number, tensor: TensorKind, tokens: TokenSet, heads: HeadRange, dtype?: Dtype): number {
  const t = makeXfer(ctx, src, dst, tensor, tokens, heads, dtype);
  if (t === null) return at;
  out[at] = t;
  return at + 1;
}

/** Room for `capacity` transfers, filled by putXfer and then cut to size by fitted(). */
export function transferList(capacity: number): Transfer[] {
  return new Array<Transfer>(capacity);
}

/** `out` cut to its first n slots (the transfers that carried tokens). */
export function fitted(out: Transfer[], n: number): Transfer[] {
  if (out.length !== n) out.length = n;
  return out;
}

function makeXfer(ctx: Ctx, src: number, dst: number, tensor: TensorKind, tokens: TokenSet, heads: HeadRange, dtype?: Dtype): Transfer | null {
  const n = tokenCount(tokens);
  if (src === dst || n === 0 || heads.end <= heads.start) return null;
  const wire = dtype !== undefined && dtype !== ctx.dtype ? dtype : undefined;
  const bytes = transferBytes(ctx, tensor, n, heads, wire);
  // Written out, not spread ({ ...t, dtype }): the spread copies were a second object per transfer,
  // and every pass over the schedule read them several times slower than plain literals.
  return wire === undefined ? { src, dst, tensor, tokens, heads, bytes } : { src, dst, tensor, tokens, heads, bytes, dtype: wire };
}

export function collective(kind: CollectiveKind, group: readonly number[], label: string, transfers: Transfer[], overlapsCompute?: boolean): Collective {
  return overlapsCompute === undefined ? { kind, group, label, transfers } : { kind, group, label, transfers, overlapsCompute };
}

export function rankCompute(rank: number, q: TokenSet, kv: TokenSet, heads: HeadRange, tiles: readonly ComputeTile[] = tilesFor(q, kv)): RankCompute {
  return { rank, q, kv, heads, tiles };
}

export const isQuerySide = (t: TensorKind): boolean => QUERY_SIDE.has(t);

/** A step before numbering: captions get "Step i of N (phase): " once the count is known. */
export interface Draft {
  readonly phase: Phase;
  readonly text: string;
  /** One-line form for slides; derived from the collectives and the compute when absent. */
  readonly short?: string;
  readonly collectives: readonly Collective[];
  readonly compute: readonly RankCompute[];
}

export function draft(phase: Phase, text: string, collectives: readonly Collective[], compute: readonly RankCompute[]): Draft {
  return { phase, text, collectives, compute };
}

const BACKWARD_PREFIX = 'backward: ';

/** The one-line form of a step: what moves (the collectives' labels) and what the ranks compute meanwhile. */
export function shortCaption(d: Pick<Draft, 'phase' | 'collectives' | 'compute'>): string {
  // The distinct labels of the collectives that move something, in order (a loop: steps list up to
  // P collectives of one label, and this runs for every step of every plan).
  const moving: string[] = [];
  for (const c of d.collectives) if ((c.transfers.length > 0 || c.kind === 'all-reduce') && !moving.includes(c.label)) moving.push(c.label);
  const computes = d.compute.some((rc) => rc.tiles.some((t) => t.pairs > 0));
  const work = d.phase === 'backward' ? 'each rank computes dQ, dK, dV' : d.phase === 'loss' ? 'each rank: cross-entropy on its own tokens' : 'each rank attends to the K/V it holds';
  const parts = moving.length ? (computes ? [moving.join(' + '), work] : [moving.join(' + ')]) : [d.phase === 'loss' ? 'each rank: cross-entropy on its own tokens, labels shifted before sharding' : work];
  const line = parts.join(' · ');
  return line.charAt(0).toUpperCase() + line.slice(1);
}

/** What a schedule records beyond its steps (see ValidSchedule). */
export interface ScheduleExtras {
  readonly savedKv?: readonly SavedKv[];
  readonly kvRetainedIn?: readonly Phase[];
}

export function finish(ctx: Ctx, shards: readonly TokenSet[], nodeOf: (rank: number) => number, drafts: readonly Draft[], extras: ScheduleExtras = {}): ValidSchedule {
  const steps: Step[] = drafts.map((d, index) => ({
    index,
    phase: d.phase,
    // The phase is in the prefix already; texts may start with it for readability in code.
    caption: `Step ${index + 1} of ${drafts.length} (${d.phase}): ${d.text.startsWith(BACKWARD_PREFIX) ? d.text.slice(BACKWARD_PREFIX.length) : d.text}`,
    short: d.short ?? shortCaption(d),
    collectives: d.collectives.filter((c) => c.transfers.length > 0 || c.kind === 'all-reduce'),
    compute: d.compute,
  }));
  const rankShards: RankShard[] = shards.map((tokens, rank) => ({ rank, tokens, node: nodeOf(rank) }));
  return {
    valid: true,
    strategy: ctx.strategy,
    impl: ctx.impl,
    ...(extras.savedKv && extras.savedKv.length > 0 ? { savedKv: extras.savedKv } : {}),
    ...(extras.kvRetainedIn && extras.kvRetainedIn.length > 0 ? { kvRetainedIn: extras.kvRetainedIn } : {}),
    ranks: ctx.P,
    seq: ctx.seq,
    shards: rankShards,
    steps,
    // Labels are shifted before sharding (Megatron builds labels = text[1:] before the CP split),
    // so every token but the global last has a target, wherever its successor lives.
    loss: { labelled: shards.map((s) => withoutTrailingToken(s, ctx.seq - 1)) },
  };
}

export function nodeByPreset(ctx: Ctx): (rank: number) => number {
  return (rank) => Math.floor(rank / ctx.gpusPerNode);
}

export function invalid(ctx: Ctx, reason: string): InvalidSchedule {
  return { valid: false, strategy: ctx.strategy, impl: ctx.impl, ranks: ctx.P, seq: ctx.seq, reason };
}

/** The profile's reason it cannot run this strategy (strategies/impl.ts), or null. */
export function implReason(ctx: Ctx): string | null {
  return implStrategyReason(ctx.strategy, ctx.impl);
}

/** The ring variant of the profile (DeepSpeed runs no ring; its Ulysses never reaches a ring step). */
export function ringVariantOf(ctx: Ctx): RingVariant {
  return RING_VARIANTS[ctx.impl === 'deepspeed' ? 'ring-flash-attn' : ctx.impl];
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The two loss steps: local cross-entropy, then the all-reduce of (loss sum, token count) over
 * the CP group. `permuted` names the layout when labels travel with permuted tokens.
 */
export function lossDrafts(ctx: Ctx, permuted: string | null): Draft[] {
  const labelled = Math.max(0, ctx.seq - 1);
  const perm = permuted
    ? ` With the ${permuted} layout the labels (and position ids) are permuted exactly like the tokens, so each rank holds the targets of its own tokens.`
    : '';
  const ce = draft(
    'loss',
    ctx.P === 1
      ? `the rank computes cross-entropy over all tokens: labels are the tokens shifted by one (label of token i = token i+1), so only the last token (${ctx.seq - 1}) has no target and ${labelled} tokens are scored. With one rank no reduction is needed.`
      : `each rank computes cross-entropy on its own tokens only. Labels were shifted before sharding (label of token i = token i+1), so a token whose successor lives on another rank (a shard's last token) still has its target locally, with no communication; only the global last token has no target.${perm}`,
    [],
    [],
  );
  if (ctx.P === 1) return [ce];
  const group = range(ctx.P);
  // Modelled as a ring all-reduce: each rank passes the running pair to the next rank.
  const transfers = group.map((r) => ({ src: r, dst: (r + 1) % ctx.P, tensor: 'loss' as const, tokens: [] as TokenSet, heads: { start: 0, end: 0 }, bytes: 8 }));
  const ar = draft(
    'loss',
    `all-reduce of (loss sum, token count) as 2 fp32 numbers over all ${plural(ctx.P, 'rank')}. Each rank only knows the sum over its own labelled tokens; the mean loss is the global sum divided by the global count (${labelled} labelled tokens), which averaging the per-rank means would get wrong whenever shards hold different numbers of labelled tokens.`,
    [collective('all-reduce', group, 'all-reduce loss sum, token count', transfers)],
    [],
  );
  return [ce, ar];
}

/**
 * Hybrid sequence parallelism of U Ulysses ranks × R ring positions (Fang & Zhao 2024, USP).
 * Rank = g·U + u: Ulysses group g (consecutive ranks), head shard u. groupSets[g] is the token set
 * of ring position g; rank (g, u) holds part u of it. U = 1 is a plain K/V ring (Liu et al. 2023)
 * over any layout; R = 1 is DeepSpeed-Ulysses (Jacobs et al. 2023).
 */
export interface HybridSpec {
  readonly U: number;
  readonly R: number;
  readonly groupSets: readonly TokenSet[];
  readonly shards: readonly TokenSet[];
  /** Captions for the ring steps; t is 0-based. */
  readonly ringText: (t: number, phase: 'forward' | 'backward') => string;
  readonly a2aText: {
    readonly qkv: string;
    readonly o: string;
    readonly dO: string;
    readonly grads: string;
  };
  /** Caption of the last backward ring step that sends dK/dV home. */
  readonly homeText: string;
  /** The ring variant; the profile's (ringVariantOf) when absent. */
  readonly variant?: RingVariant;
}

export function hybridDrafts(ctx: Ctx, spec: HybridSpec): { forward: Draft[]; backward: Draft[] } {
  const { U, R, groupSets, shards } = spec;
  const rankOf = (g: number, u: number): number => g * U + u;
  // Head ranges of each head shard u, made once: every transfer and compute of shard u shares them.
  const queryHeadsByShard = range(U).map((u) => (U === 1 ? allHeads(ctx.heads) : queryHeadsOf(ctx, u, U)));
  const kvHeadsByShard = range(U).map((u) => (U === 1 ? allHeads(ctx.kvHeads) : kvHeadsFor(ctx, queryHeadsByShard[u] as HeadRange)));
  const qHeads = (u: number): HeadRange => queryHeadsByShard[u] as HeadRange;
  const kvHeads = (u: number): HeadRange => kvHeadsByShard[u] as HeadRange;
  const set = (g: number): TokenSet => groupSets[((g % R) + R) % R] ?? [];
  const groups = range(R).map((g) => range(U).map((u) => rankOf(g, u)));
  const rings = range(U).map((u) => range(R).map((g) => rankOf(g, u)));

  // Sequence-sharded -> head-sharded: rank (g,u') sends its tokens of the heads of (g,u) to (g,u).
  const toHeads = (tensors: readonly TensorKind[], label: string): Collective[] =>
    groups.map((members, g) => {
      const transfers = transferList(tensors.length * U * U);
      let n = 0;
      for (const t of tensors)
        for (let dst = 0; dst < U; dst++) {
          const h = isQuerySide(t) ? qHeads(dst) : kvHeads(dst);
          for (let src = 0; src < U; src++) n = putXfer(transfers, n, ctx, rankOf(g, src), rankOf(g, dst), t, shards[rankOf(g, src)] ?? [], h);
        }
      return collective('all-to-all', members, label, fitted(transfers, n));
    });
  // Head-sharded -> sequence-sharded: (g,u) sends the tokens of (g,u') for its heads back to (g,u').
  const toSeq = (tensors: readonly TensorKind[], label: string): Collective[] =>
    groups.map((members, g) => {
      const transfers = transferList(tensors.length * U * U);
      let n = 0;
      for (const t of tensors)
        for (let src = 0; src < U; src++) {
          const h = isQuerySide(t) ? qHeads(src) : kvHeads(src);
          for (let dst = 0; dst < U; dst++) n = putXfer(transfers, n, ctx, rankOf(g, src), rankOf(g, dst), t, shards[rankOf(g, dst)] ?? [], h);
        }
      return collective('all-to-all', members, label, fitted(transfers, n));
    });

  // Ring step t: rank (g,u) holds K/V of ring position g−t. The U ranks of a group share q and kv,
  // so they share one tile list; the backward repeats the forward's compute, so each step's list
  // is built once and listed in both (consumers never mutate a schedule). Ranks come out in order.
  const computeByRingStep = range(R).map((t): RankCompute[] => {
    const out: RankCompute[] = [];
    for (let g = 0; g < R; g++) {
      const q = set(g);
      const kv = set(g - t);
      const tiles = tilesFor(q, kv);
      for (let u = 0; u < U; u++) out.push(rankCompute(rankOf(g, u), q, kv, qHeads(u), tiles));
    }
    return out;
  });
  const computeAt = (t: number): RankCompute[] => computeByRingStep[t] ?? [];
  const variant = spec.variant ?? ringVariantOf(ctx);
  // Ring hops of the given tensors: rank (g,u) sends blockOf(g) to (g+step,u) (step ±1).
  const ringSend = (
    tensors: readonly TensorKind[],
    blockOf: (g: number) => TokenSet,
    label: string,
    opts: { step?: 1 | -1; dtype?: Dtype; kind?: CollectiveKind } = {},
  ): Collective[] =>
    rings.map((members, u) => {
      const transfers = transferList(tensors.length * R);
      let n = 0;
      const step = opts.step ?? 1;
      for (const t of tensors)
        for (let g = 0; g < R; g++) n = putXfer(transfers, n, ctx, rankOf(g, u), rankOf((((g + step) % R) + R) % R, u), t, blockOf(g), kvHeads(u), opts.dtype);
      const kind = opts.kind ?? 'send-recv';
      // An all-to-all used as a ring hop (PyTorch's _AllToAllRotater) is asynchronous like a send.
      return collective(kind, members, label, fitted(transfers, n), kind === 'send-recv' ? undefined : true);
    });
  // All-gather of every ring position's K/V over a ring (PyTorch's _AllGatherRotater), issued at
  // step 0 and overlapping its compute; the gathered blocks are usable from step 1.
  const ringGather = (label: string): Collective[] =>
    rings.map((members, u) => {
      const transfers = transferList(2 * R * R);
      let n = 0;
      for (const t of ['K', 'V'] as const)
        for (let g = 0; g < R; g++) for (let d = 0; d < R; d++) n = putXfer(transfers, n, ctx, rankOf(g, u), rankOf(d, u), t, set(g), kvHeads(u));
      return collective('all-gather', members, label, fitted(transfers, n), true);
    });

  // The forward K,V rotation of ring step t; ring-flash-attention's backward repeats it (built once,
  // listed in both).
  const kvRotation = range(R).map((t) => (t < R - 1 ? ringSend(['K', 'V'], (g) => set(g - t), 'send K,V to next rank') : []));
  const kvSendAt = (t: number): Collective[] => kvRotation[t] ?? [];
  const dkvDtype: Dtype | undefined = variant.dkvFp32 ? 'fp32' : undefined;
  const dkvWord = variant.dkvFp32 && ctx.dtype !== 'fp32' ? ' (fp32)' : '';

  const forward: Draft[] = [];
  if (U > 1) forward.push(draft('forward', spec.a2aText.qkv, toHeads(['Q', 'K', 'V'], 'all-to-all Q,K,V (sequence → heads)'), []));
  for (let t = 0; t < R; t++) {
    const sends = R === 1 ? [] : variant.forwardKv === 'all-gather' ? (t === 0 ? ringGather('all-gather K,V (PyTorch all-gather rotater)') : []) : kvSendAt(t);
    forward.push(draft('forward', spec.ringText(t, 'forward'), sends, computeAt(t)));
  }
  if (U > 1) forward.push(draft('forward', spec.a2aText.o, toSeq(['O'], 'all-to-all O (heads → sequence)'), []));

  const backward: Draft[] = [];
  if (U > 1) backward.push(draft('backward', spec.a2aText.dO, toHeads(['dO'], 'all-to-all dO (sequence → heads)'), []));
  if (variant.backwardKv === 'reverse' && R > 1) {
    // Transformer Engine (AttnFuncWithCPAndKVP2P.backward): the ring runs backwards (send to r−1)
    // and starts from the last block of the forward, which was saved: at step t rank g holds block
    // g+1+t, which is forward step R−1−t's block. K,V and dK,dV travel together, P−1 hops each; the
    // dK,dV sent at step t are those of step t−1's block, and the last hop lands on the owner.
    for (let t = 0; t < R; t++) {
      const sends: Collective[] = [];
      if (t < R - 1) sends.push(...ringSend(['K', 'V'], (g) => set(g + 1 + t), 'send K,V to previous rank', { step: -1 }));
      if (t >= 1) sends.push(...ringSend(['dK', 'dV'], (g) => set(g + t), `send dK,dV partial sums to previous rank${dkvWord}`, { step: -1, dtype: dkvDtype }));
      backward.push(draft('backward', spec.ringText(t, 'backward'), sends, computeAt(R - 1 - t)));
    }
  } else {
    for (let t = 0; t < R; t++) {
      const sends: Collective[] = [];
      if (R > 1) {
        if (variant.backwardKv === 'all-gather') {
          if (t === 0) sends.push(...ringGather('all-gather K,V again (PyTorch all-gather rotater)'));
        } else sends.push(...kvSendAt(t));
      }
      // dK/dV of the block used in step t−1 follow it one hop behind, accumulating every rank's part.
      if (t >= 1) sends.push(...ringSend(['dK', 'dV'], (g) => set(g - (t - 1)), `send dK,dV partial sums to next rank${dkvWord}`, { dtype: dkvDtype, kind: variant.dkvKind }));
      backward.push(draft('backward', spec.ringText(t, 'backward'), sends, computeAt(t)));
    }
    // After R steps rank g holds the dK/dV of block g+1 with all R contributions: one hop takes it home.
    if (R > 1) backward.push(draft('backward', spec.homeText, ringSend(['dK', 'dV'], (g) => set(g - (R - 1)), `send dK,dV home${dkvWord}`, { dtype: dkvDtype, kind: variant.dkvKind }), []));
  }
  if (U > 1) backward.push(draft('backward', spec.a2aText.grads, toSeq(['dQ', 'dK', 'dV'], 'all-to-all dQ,dK,dV (heads → sequence)'), []));
  return { forward, backward };
}

/** What a ring variant adds to a hybrid schedule: saved K/V (TE) and retained receive buffers. */
export function ringExtras(ctx: Ctx, spec: Pick<HybridSpec, 'U' | 'R' | 'groupSets'>): ScheduleExtras {
  const { U, R, groupSets } = spec;
  if (R <= 1) return {};
  const variant = ringVariantOf(ctx);
  const kvRetainedIn: Phase[] = [];
  if (variant.forwardKvRetained) kvRetainedIn.push('forward');
  if (variant.backwardKvRetained) kvRetainedIn.push('backward');
  const savedKv: SavedKv[] = [];
  if (variant.backwardKv === 'reverse')
    for (let g = 0; g < R; g++)
      for (let u = 0; u < U; u++) {
        const q = U === 1 ? allHeads(ctx.heads) : queryHeadsOf(ctx, u, U);
        savedKv.push({ rank: g * U + u, tokens: groupSets[(g + 1) % R] ?? [], heads: U === 1 ? allHeads(ctx.kvHeads) : kvHeadsFor(ctx, q) });
      }
  return { savedKv, kvRetainedIn };
}

/** "rank 3" / "ranks 0–2", with the verb agreeing: who(0, 2, 'skip', 'skips'). */
export function who(a: number, b: number, plural: string, singular: string): string {
  return a === b ? `rank ${a} ${singular}` : `ranks ${a}–${b} ${plural}`;
}

export function fmtTokens(set: TokenSet): string {
  if (set.length === 0) return 'no tokens';
  return set.map((s) => (s.stride === 1 ? `${s.start}–${s.start + s.count - 1}` : `${s.start}, ${s.start + s.stride}, …`)).join(' and ');
}

/**
 * Head sharding over n ranks (Ulysses, Megatron TP, USP's Ulysses part) needs n to divide the
 * query heads, and for GQA either n | kvHeads or kvHeads | n (K/V heads replicated), as in
 * Megatron-Core's a2a CP and verl. Returns the reason it cannot, or null.
 */
export function headShardReason(ctx: Ctx, n: number, who: string, degree: string): string | null {
  if (ctx.heads % n !== 0) return `${who} needs the ${degree} to divide the ${ctx.heads} query heads (got ${n}).`;
  if (ctx.kvHeads % n !== 0 && n % ctx.kvHeads !== 0)
    return `${who} needs the ${degree} (${n}) to divide the ${ctx.kvHeads} K/V heads, or to be a multiple of ${ctx.kvHeads} so that K/V heads can be replicated.`;
  return null;
}

/**
 * Head sharding by an all-to-all as the profile implements it. Transformer Engine's a2a asserts
 * num_heads % cp_size == 0 for Q and for K/V (AttnFuncWithCPAndQKVOA2A.forward: "cp_comm_type='a2a'
 * requires num_heads % cp_size == 0"). DeepSpeed's Ulysses for HF models replicates K/V heads when
 * the degree is a multiple of them (deepspeed/runtime/sequence_parallel/ulysses_sp.py,
 * UlyssesSPAttentionHF: kv_replication_factor = world_size // kv_head_count, repeat_interleave
 * before the all-to-all; it raises unless kv heads divide the SP size or vice versa), as the other
 * profiles do here (headShardReason).
 */
export function a2aHeadReason(ctx: Ctx, n: number, who: string, degree: string): string | null {
  if (ctx.impl === 'megatron-te') {
    if (ctx.heads % n !== 0) return `${who} needs the ${degree} to divide the ${ctx.heads} query heads (got ${n}).`;
    if (ctx.kvHeads % n !== 0)
      return `${who} needs the ${degree} (${n}) to divide the ${ctx.kvHeads} K/V heads: Transformer Engine's a2a asserts num_heads % cp_size == 0 for K/V as well (AttnFuncWithCPAndQKVOA2A). DeepSpeed (impl deepspeed) replicates K/V heads instead; or choose ${n > ctx.kvHeads ? `at most ${ctx.kvHeads} ranks` : 'a divisor of the K/V heads'}.`;
    return null;
  }
  return headShardReason(ctx, n, who, degree);
}

/**
 * Ulysses and TP both shard attention heads, so they compete for them: with TP degree t each TP
 * rank keeps a/t query heads, and the Ulysses degree must divide those (Jacobs et al. 2023 §3;
 * Megatron-Core checks CP·TP against the head count for a2a). Returns the reason, or null.
 */
export function tpHeadShareReason(params: Params, n: number, who: string, degree: string): string | null {
  const t = params.tp;
  if (t <= 1) return null;
  if (params.heads % t !== 0) return `TP ${t} must divide the ${params.heads} query heads before ${who} can shard the rest.`;
  const local = params.heads / t;
  if (local % n !== 0)
    return `${who} and TP both shard heads: with TP ${t} each TP rank keeps ${local} of the ${params.heads} query heads, and the ${degree} (${n}) must divide them.`;
  return null;
}

export function headsText(h: HeadRange): string {
  return h.end - h.start === 1 ? `head ${h.start}` : `heads ${h.start}–${h.end - 1}`;
}
