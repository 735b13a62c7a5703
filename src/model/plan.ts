// plan(params): the schedule for the chosen strategy, priced. The UI's readouts and the CLI both
// print from this one function, so their numbers match by construction.
//
// What is counted, per rank (bytes unless stated):
// - weights, grads, optimizer: memory.ts (ZeRO / TP sharding);
// - activations: Korthikanti et al. 2022 Table 2 on the rank's own tokens, without the score
//   term, for every layer (stored for the backward);
// - scores: flash off only — the score/softmax/dropout bytes of the Q×K/V blocks the schedule
//   materialises (Korthikanti's 5·a·s²·b, generalised to the blocks each rank actually computes),
//   stored for every layer without recompute, otherwise only the block being (re)computed;
// - kvWorkingSet: the K/V the rank attends to in a step (in the backward also the dK/dV
//   accumulators for them), plus K/V blocks arriving in that step that it is not attending to
//   yet (a ring's receive buffer), read from the schedule's compute and transfers, not per
//   strategy. So all-gather: full K,V (2·s·b·h_kv·e) forward, twice that backward; ring: 2 blocks
//   forward, 3 backward; Ulysses: the full sequence for its K/V heads. It overlaps the Table 2
//   activations by at most the rank's own K/V block (we do not subtract it);
// - logits: the loss step's fp32 logits;
// - peak: the maximum over the schedule's steps of everything resident at that step. The schedule
//   describes one layer; we price it as the LAST layer of the forward and the first of the
//   backward, i.e. with every layer's stored activations resident, which is where training peaks.
// Per-category figures are each category's maximum over the steps; `atPeak` splits the peak.

import type { GpuPreset, Params } from './params.ts';
import { DTYPE_BYTES, gpuPreset } from './params.ts';
import type { Collective, HeadRange, RankCompute, Schedule, Segment, Step, TensorKind, TokenSet, Transfer, ValidSchedule } from './schedule.ts';
import { tilesFor, tokenCount } from './schedule.ts';
import { buildSchedule } from './strategies/index.ts';
import { resolveImpl } from './strategies/impl.ts';
import { type ByKind, type FwdBwd, commPerRank, emptyByKind, gradientReductionBytes, megatronSpLayerBytes } from './comm.ts';
import { korthikantiRow, logitsBytes, modelStateBytes, parameterCounts, scoreBytesPerElement, tpDegree, zeroGroupSize, type ModelStateBytes } from './memory.ts';
import { attentionFlops, backwardFlopFactor, buildTimelineWithPairs, computedPairsByEntry, nodeOf, type Overlap, type Timeline } from './timeline.ts';
import type { ImplId } from './params.ts';

export interface MemoryCategories {
  weights: number;
  grads: number;
  optimizer: number;
  activations: number;
  kvWorkingSet: number;
  scores: number;
  logits: number;
}

export const MEMORY_CATEGORIES: readonly (keyof MemoryCategories)[] = ['weights', 'grads', 'optimizer', 'activations', 'kvWorkingSet', 'scores', 'logits'];

export interface RankMemory extends MemoryCategories {
  /** Bytes per gradient element (the profile's: 4 for fp32 main grads, 2 for bf16). */
  gradsDtypeBytes: number;
  /** Stored activations of one layer (Table 2 row on the rank's tokens, without the score term). */
  activationsPerLayer: number;
  /** Score bytes one layer stores for its backward (0 with flash or with recompute). */
  scoresPerLayer: number;
  /** Max over steps of everything resident at once. */
  peak: number;
  /** The schedule step where the peak occurs. */
  peakStep: number;
  /** The categories resident at the peak step (they sum to `peak`). */
  atPeak: MemoryCategories;
}

export interface RankCost {
  rank: number;
  node: number;
  /** Tokens of the rank's shard (its share of every token-wise tensor). */
  tokens: number;
  memory: RankMemory;
  /** Bytes resident per schedule step. */
  memoryByStep: number[];
  /** Bytes SENT by this rank per layer (see comm.ts for why sent). */
  commBytesPerLayer: FwdBwd;
  commByKind: ByKind;
  /** Number of collectives per kind and phase this rank joins, per layer. */
  collectivesByKind: ByKind;
  /** Bytes sent in the loss all-reduce (once per iteration). */
  commLossBytes: number;
  /**
   * Bytes sent per training iteration (one micro-batch): attention collectives × layers (with full
   * recompute the forward's run again), tensor-parallel (Megatron SP) collectives × layers, and the
   * gradient reduction over DP×CP once; total = their sum.
   */
  commBytesPerIteration: CommPerIteration;
  /** Forward attention FLOPs of this rank for one layer: Σ computed causal pairs × 4·d (× heads, × b). */
  causalFlops: number;
  /** Attention FLOPs per schedule step (backward steps include the backward factor). */
  flopsByStep: number[];
  oom: boolean;
}

export interface CommPerIteration {
  attention: number;
  tensorParallel: number;
  gradients: number;
  total: number;
}

export interface Balance {
  perRankFlops: number[];
  /** max / mean of perRankFlops: 1 is perfect balance. */
  maxOverMean: number;
  /** mean / max of perRankFlops: the fraction of the busiest rank's time the average rank works (1 = ideal balance). */
  ideal: number;
  /** A measured efficiency where a paper or README reports one for this strategy (fraction of the ideal). */
  measured?: number;
  measuredSource?: string;
}

export interface Baseline {
  /** The same model on one GPU with no sequence parallelism (TP kept for CP strategies, dropped for Megatron SP). */
  memory: RankMemory;
  tp: number;
}

export interface Plan {
  params: Params;
  schedule: Schedule;
  valid: boolean;
  reason?: string;
  gpu: GpuPreset;
  /** Tensor-parallel degree used for weights and activations. */
  tp: number;
  /** Ranks ZeRO shards model state over (1 = no sharding). */
  zeroGroup: number;
  /** Total model parameters. */
  parameters: number;
  perRank: RankCost[];
  baseline: Baseline;
  balance: Balance;
  timeline: Timeline;
  /** The overlap verdict, read from the timeline (timeline.overlap). */
  overlap: Overlap;
  /** The implementation profile the plan follows (Params.impl resolved for the strategy). */
  impl: ImplId;
  /** Any rank over the GPU's memory. */
  oom: boolean;
}

interface PriceContext {
  readonly params: Params;
  /** Bytes per element of activations, K/V and scores. */
  readonly e: number;
  readonly t: number;
  /** Sequence parallelism inside the TP group (Korthikanti "TP + SP" rows). */
  readonly sp: boolean;
  /** Multiplier for per-head quantities from the schedule (1/t when the schedule lists all heads but each TP rank holds 1/t of them). */
  readonly headScale: number;
  /** Tokens the Table 2 row sees for rank r, and the tokens its logits cover. */
  readonly rowTokens: (shardTokens: number) => number;
  readonly logitTokens: (shardTokens: number) => number;
  readonly state: ModelStateBytes;
  readonly gpu: GpuPreset;
  /** Ranks the gradients are reduced over: DP × CP for CP strategies, DP for Megatron SP. */
  readonly gradientGroup: number;
}

/** Distinct K/V heads serving query heads [start, end) (GQA: query head h uses K/V head ⌊h·a_kv/a⌋). */
export function kvHeadsFor(heads: HeadRange, params: Pick<Params, 'heads' | 'kvHeads'>): number {
  if (heads.end <= heads.start) return 0;
  const lo = Math.floor((heads.start * params.kvHeads) / params.heads);
  const hi = Math.floor(((heads.end - 1) * params.kvHeads) / params.heads);
  return hi - lo + 1;
}

function segmentContains(outer: Segment, inner: Segment): boolean {
  if (inner.count === 0) return true;
  const innerLast = inner.start + (inner.count - 1) * inner.stride;
  const outerLast = outer.start + (outer.count - 1) * outer.stride;
  if (inner.start < outer.start || innerLast > outerLast) return false;
  if (outer.stride === 1) return true;
  if ((inner.start - outer.start) % outer.stride !== 0) return false;
  return inner.count === 1 || inner.stride % outer.stride === 0;
}

function tokensContained(set: TokenSet, inner: TokenSet): boolean {
  // Schedules share their TokenSet objects (a block received is the sender's set), and a set
  // contains itself: most checks end here.
  if (set === inner) return true;
  for (let i = 0; i < inner.length; i++) {
    const seg = inner[i] as Segment;
    let found = false;
    for (let j = 0; j < set.length; j++) {
      if (segmentContains(set[j] as Segment, seg)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

const isKvTensor = (t: TensorKind): boolean => t === 'K' || t === 'V' || t === 'dK' || t === 'dV';

/**
 * Per rank and schedule step, what the memory and FLOP figures are made of, filled in one pass over
 * the steps. Each table is flat, indexed [rank · steps + step]: no per-rank arrays, no Maps.
 */
interface StepTables {
  /** Materialised score elements (flash off). */
  readonly scoreElems: Float64Array;
  /** K/V bytes held: attended blocks (and dK/dV accumulators backward) plus receive buffers. */
  readonly kvHeld: Float64Array;
  /** Attention FLOPs (backward steps include the backward factor). */
  readonly flops: Float64Array;
  /** Forward attention FLOPs per rank, summed over the forward steps. */
  readonly causal: Float64Array;
}

/** A plain array of a typed array's numbers, sized up front (Array.from goes through the iterator protocol). */
function toArray(xs: Float64Array): number[] {
  const out = new Array<number>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i] ?? 0;
  return out;
}

function addAt(table: Float64Array, at: number, x: number): void {
  table[at] = (table[at] as number) + x;
}

function stepTables(ctx: PriceContext, schedule: ValidSchedule, pairsByEntry: Float64Array): StepTables {
  const { params, e, headScale } = ctx;
  const b = params.microBatch;
  const kvElemBytes = params.headDim * e * b * headScale; // one token, one K/V head, one tensor
  const bwdFactor = backwardFlopFactor(params.flash);
  const nRanks = schedule.ranks;
  const nSteps = schedule.steps.length;
  const tables: StepTables = {
    scoreElems: new Float64Array(params.flash ? 0 : nRanks * nSteps), // only read with flash off
    kvHeld: new Float64Array(nRanks * nSteps),
    flops: new Float64Array(nRanks * nSteps),
    causal: new Float64Array(nRanks),
  };
  // The computes of each rank in the current step: attendingByRank[r][0 .. attendingCount[r]) (one,
  // in every built-in strategy). Counts are reset per step; the lists are overwritten, never cleared.
  const attendingByRank: RankCompute[][] = Array.from({ length: nRanks }, () => []);
  const attendingCount = new Int32Array(nRanks);
  // The last token set asked about per receiving rank in this step and the answer: K and V (dK and
  // dV) of one block arrive together, so the second asks again.
  const askedTokens: (TokenSet | null)[] = new Array<TokenSet | null>(nRanks).fill(null);
  const askedAnswer = new Uint8Array(nRanks);
  const attendedByRank = (r: number, tokens: TokenSet): boolean => {
    if (askedTokens[r] === tokens) return askedAnswer[r] === 1;
    const computes = attendingByRank[r] as RankCompute[];
    let attended = false;
    for (let k = 0; k < (attendingCount[r] as number); k++)
      if (tokensContained((computes[k] as RankCompute).kv, tokens)) {
        attended = true;
        break;
      }
    askedTokens[r] = tokens;
    askedAnswer[r] = attended ? 1 : 0;
    return attended;
  };
  // Retained K/V (schedule.kvRetainedIn): bytes each rank received earlier in the phase, which stay
  // allocated (TE's forward p2p_comm_buffers, PyTorch's gathered buffer) instead of being freed.
  const retainedIn = new Set(schedule.kvRetainedIn ?? []);
  const receivedInPhase = new Float64Array(nRanks);
  const attendedReceived = new Float64Array(nRanks);
  // The rank's own K/V as a buffer copy (TE's p2p_comm_buffers[0] = cat(k, v); the own chunk of
  // PyTorch's gathered buffer), once attended to in the phase.
  const ownInPhase = new Float64Array(nRanks);
  const attendingOwn = new Uint8Array(nRanks);
  let retainPhase: string | null = null;
  let entry = 0; // index into pairsByEntry
  // K/V heads of the last head range seen: the computes of a schedule share a few HeadRange objects.
  let lastHeads: HeadRange | null = null;
  let lastKvHeads = 0;
  // Indexed loops, no per-step closure: this visits every compute and transfer on every slider move.
  const steps = schedule.steps;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as Step;
    const bwd = step.phase === 'backward';
    if (step.phase !== retainPhase) {
      retainPhase = step.phase;
      receivedInPhase.fill(0);
      ownInPhase.fill(0);
    }
    attendedReceived.fill(0);
    attendingOwn.fill(0);
    attendingCount.fill(0);
    askedTokens.fill(null);
    const compute = step.compute;
    for (let k = 0; k < compute.length; k++) {
      const rc = compute[k] as RankCompute;
      const pairs = pairsByEntry[entry++] ?? 0; // computedPairs(rc)
      const r = rc.rank;
      if (r < 0 || r >= nRanks) continue;
      const at = r * nSteps + i;
      const attending = attendingCount[r] as number;
      (attendingByRank[r] as RankCompute[])[attending] = rc;
      attendingCount[r] = attending + 1;
      const nHeads = rc.heads.end - rc.heads.start;
      if (!params.flash) {
        // Score elements the unskipped tiles materialise (nothing reads them with flash on).
        let elems = 0;
        for (const tile of rc.tiles) if (tile.mask !== 'skipped') elems += tile.q.count * tile.kv.count * nHeads * b * headScale;
        addAt(tables.scoreElems, at, elems);
      }
      // K and V (and the dK, dV accumulators in the backward) of the tokens attended to.
      if (rc.heads !== lastHeads) {
        lastHeads = rc.heads;
        lastKvHeads = kvHeadsFor(rc.heads, params);
      }
      const attendedKv = tokenCount(rc.kv) * lastKvHeads * kvElemBytes * 2;
      addAt(tables.kvHeld, at, attendedKv * (bwd ? 2 : 1));
      const shard = schedule.shards[r]?.tokens ?? [];
      if (!tokensContained(shard, rc.kv)) attendedReceived[r] = (attendedReceived[r] as number) + attendedKv;
      else {
        attendingOwn[r] = 1;
        ownInPhase[r] = Math.max(ownInPhase[r] as number, attendedKv);
      }
      const fwdFlops = attentionFlops(pairs, params.headDim, b) * headScale;
      addAt(tables.flops, at, bwd ? fwdFlops * bwdFactor : fwdFlops);
      if (step.phase === 'forward') addAt(tables.causal, r, fwdFlops);
    }
    // Retained blocks received in earlier steps of the phase, beyond the one being attended to.
    if (retainedIn.has(step.phase))
      for (let r = 0; r < nRanks; r++)
        addAt(tables.kvHeld, r * nSteps + i, Math.max(0, (receivedInPhase[r] as number) - (attendedReceived[r] as number)) + (attendingOwn[r] ? 0 : (ownInPhase[r] as number)));
    // Blocks arriving in this step that the rank is not already attending to: receive buffers.
    const collectives = step.collectives;
    for (let k = 0; k < collectives.length; k++) {
      const transfers = (collectives[k] as Collective).transfers;
      for (let j = 0; j < transfers.length; j++) {
        const tr = transfers[j] as Transfer;
        const dst = tr.dst;
        if (tr.src === dst || dst < 0 || dst >= nRanks || !isKvTensor(tr.tensor)) continue;
        if (tr.tensor === 'K' || tr.tensor === 'V') receivedInPhase[dst] = (receivedInPhase[dst] as number) + tr.bytes * headScale;
        if (attendedByRank(dst, tr.tokens)) continue;
        addAt(tables.kvHeld, dst * nSteps + i, tr.bytes * headScale);
      }
    }
  }
  return tables;
}

/** Prices every rank of a valid schedule. */
function priceRanks(ctx: PriceContext, schedule: ValidSchedule, pairsByEntry: Float64Array = computedPairsByEntry(schedule)): RankCost[] {
  const { params, e, t, headScale } = ctx;
  const L = params.layers;
  const b = params.microBatch;
  const comm = commPerRank(schedule, headScale);
  const sbe = scoreBytesPerElement(e);
  const steps: readonly Step[] = schedule.steps;
  const nSteps = steps.length;
  const hasLossStep = steps.some((s) => s.phase === 'loss');
  let lastForward = -1;
  steps.forEach((s, i) => {
    if (s.phase === 'forward') lastForward = i;
  });
  const tables = stepTables(ctx, schedule, pairsByEntry);
  const nRanks = schedule.ranks;
  const stepIsLoss = new Uint8Array(nSteps);
  for (let i = 0; i < nSteps; i++) stepIsLoss[i] = (steps[i] as Step).phase === 'loss' ? 1 : 0;
  const recomputeNone = params.recompute === 'none';
  const noSteps = new Float64Array(nSteps);
  // Table 2 activations depend on the rank's token count only, and most ranks share one.
  const activationsByTokens = new Map<number, { stored: number; transientLayer: number }>();
  const activationsOf = (rowTokens: number): { stored: number; transientLayer: number } => {
    let row = activationsByTokens.get(rowTokens);
    if (!row) {
      const rowBase = { s: rowTokens, b, h: params.hidden, a: params.heads, t, sp: ctx.sp, e };
      row = {
        // Stored per layer; with full recompute one layer's whole set is rebuilt transiently.
        stored: korthikantiRow({ ...rowBase, recompute: params.recompute }).nonScore,
        transientLayer: params.recompute === 'full' ? korthikantiRow({ ...rowBase, recompute: 'none' }).nonScore : 0,
      };
      activationsByTokens.set(rowTokens, row);
    }
    return row;
  };

  const out: RankCost[] = [];
  for (const shard of schedule.shards) {
    const r = shard.rank;
    const tokens = tokenCount(shard.tokens);
    const { stored, transientLayer } = activationsOf(ctx.rowTokens(tokens));
    const logits = logitsBytes(ctx.logitTokens(tokens), b, params.vocab, t, params.dtype);
    const known = r >= 0 && r < nRanks;
    const rowOf = (table: Float64Array): Float64Array => (known ? table.subarray(r * nSteps, (r + 1) * nSteps) : noSteps);
    const scoreElems = rowOf(tables.scoreElems);
    const kvHeld = rowOf(tables.kvHeld);
    const flops = rowOf(tables.flops);
    const causalFlops = known ? (tables.causal[r] ?? 0) : 0;

    let scoresPerLayer = 0;
    if (!(params.flash || params.recompute !== 'none')) for (let i = 0; i < nSteps; i++) scoresPerLayer += (steps[i] as Step).phase === 'forward' ? (scoreElems[i] ?? 0) * sbe : 0;
    const scoresStored = L * scoresPerLayer;
    // Each category's bytes at step i, summed per step below and read again at the peak step. A
    // schedule without steps is priced as one step holding the stored activations and the logits.
    const computing = (i: number): boolean => i < nSteps && (steps[i] as Step).phase !== 'loss' && (flops[i] ?? 0) > 0;
    const activationsAt = (i: number): number => L * stored + (computing(i) ? transientLayer : 0);
    const kvAt = (i: number): number => kvHeld[i] ?? 0;
    const scoresAt = (i: number): number => (params.flash ? 0 : params.recompute === 'none' ? scoresStored : computing(i) ? (scoreElems[i] ?? 0) * sbe : 0);
    const isLogitStep = (i: number): boolean => nSteps === 0 || (hasLossStep ? (steps[i] as Step).phase === 'loss' : i === lastForward);
    const logitsAt = (i: number): number => (isLogitStep(i) ? logits : 0);
    const { weights, grads, optimizer } = ctx.state;

    // A plain loop over numbers, no per-step objects: this runs ranks × steps times on every slider
    // move. It computes what the helpers above do, written out: a call returning a double boxes it.
    const memoryByStep = new Array<number>(Math.max(1, nSteps));
    let peakStep = 0;
    let maxActivations = -Infinity;
    let maxKv = -Infinity;
    let maxScores = -Infinity;
    let maxLogits = -Infinity;
    const storedLayers = L * stored;
    for (let i = 0; i < Math.max(1, nSteps); i++) {
      const isComputing = i < nSteps && stepIsLoss[i] === 0 && (flops[i] ?? 0) > 0; // computing(i)
      const activations = storedLayers + (isComputing ? transientLayer : 0);
      const kv = kvHeld[i] ?? 0;
      const scores = params.flash ? 0 : recomputeNone ? scoresStored : isComputing ? (scoreElems[i] ?? 0) * sbe : 0;
      const logitBytes = nSteps === 0 || (hasLossStep ? stepIsLoss[i] === 1 : i === lastForward) ? logits : 0; // logitsAt(i)
      const total = Math.ceil(weights + grads + optimizer + activations + kv + scores + logitBytes);
      memoryByStep[i] = total;
      if (total > (memoryByStep[peakStep] ?? 0)) peakStep = i;
      maxActivations = Math.max(maxActivations, activations);
      maxKv = Math.max(maxKv, kv);
      maxScores = Math.max(maxScores, scores);
      maxLogits = Math.max(maxLogits, logitBytes);
    }
    const atPeak: MemoryCategories = {
      weights,
      grads,
      optimizer,
      activations: activationsAt(peakStep),
      kvWorkingSet: kvAt(peakStep),
      scores: scoresAt(peakStep),
      logits: logitsAt(peakStep),
    };
    const memory: RankMemory = {
      gradsDtypeBytes: ctx.state.gradsDtypeBytes,
      weights: Math.ceil(weights),
      grads: Math.ceil(grads),
      optimizer: Math.ceil(optimizer),
      activations: Math.ceil(maxActivations),
      activationsPerLayer: Math.ceil(stored),
      kvWorkingSet: Math.ceil(maxKv),
      scores: Math.ceil(maxScores),
      scoresPerLayer: Math.ceil(scoresPerLayer),
      logits: Math.ceil(maxLogits),
      peak: memoryByStep[peakStep] ?? 0,
      peakStep,
      atPeak,
    };
    const rc = comm[r];
    out.push({
      rank: r,
      node: nodeOf(r, params, ctx.gpu),
      tokens,
      memory,
      memoryByStep,
      commBytesPerLayer: rc ? { forward: rc.perLayer.forward, backward: rc.perLayer.backward } : { forward: 0, backward: 0 },
      commByKind: rc ? rc.byKind : emptyByKind(),
      collectivesByKind: rc ? rc.collectives : emptyByKind(),
      commLossBytes: rc ? rc.loss : 0,
      commBytesPerIteration: perIteration(ctx, rc, tokens),
      causalFlops,
      flopsByStep: known ? toArray(flops) : [],
      oom: memory.peak > ctx.gpu.memoryBytes,
    });
  }
  return out;
}

/** See RankCost.commBytesPerIteration. */
function perIteration(ctx: PriceContext, rc: { perLayer: FwdBwd; tensorParallel: FwdBwd } | undefined, tokens: number): CommPerIteration {
  const { params } = ctx;
  const L = params.layers;
  // Full recompute reruns each layer's forward, collectives included (Korthikanti et al. 2022 §5).
  const fwdRuns = params.recompute === 'full' ? 2 : 1;
  const layer = (x: FwdBwd): number => L * (x.forward * fwdRuns + x.backward);
  const all = rc?.perLayer ?? { forward: 0, backward: 0 };
  const tpInSchedule = rc?.tensorParallel ?? { forward: 0, backward: 0 };
  const attention = layer({ forward: all.forward - tpInSchedule.forward, backward: all.backward - tpInSchedule.backward });
  // CP strategies with TP > 1 also run Megatron SP inside each TP group, on the CP shard's tokens.
  const tpAround = params.strategy === 'megatron-sp' ? { forward: 0, backward: 0 } : megatronSpLayerBytes(tokens, params.hidden, ctx.e * params.microBatch, params.tp);
  const tensorParallel = layer(tpInSchedule) + layer(tpAround);
  const gradients = gradientReductionBytes(ctx.state.paramsPerRank, ctx.gradientGroup, ctx.state.gradsDtypeBytes, ctx.e, params.zero);
  return { attention, tensorParallel, gradients, total: attention + tensorParallel + gradients };
}

/** One rank, the whole sequence, no collectives: the "no sequence parallelism" baseline. */
function singleRankSchedule(params: Params): ValidSchedule {
  const all: TokenSet = [{ start: 0, count: params.seq, stride: 1 }];
  const compute = [{ rank: 0, q: all, kv: all, heads: { start: 0, end: params.heads }, tiles: tilesFor(all, all) }];
  return {
    valid: true,
    strategy: params.strategy,
    ranks: 1,
    seq: params.seq,
    shards: [{ rank: 0, tokens: all, node: 0 }],
    steps: [
      { index: 0, phase: 'forward', caption: 'attention over the whole sequence', collectives: [], compute },
      { index: 1, phase: 'loss', caption: 'loss', collectives: [], compute: [] },
      { index: 2, phase: 'backward', caption: 'attention backward', collectives: [], compute },
    ],
    loss: { labelled: [[{ start: 0, count: Math.max(0, params.seq - 1), stride: 1 }]] },
  };
}

function baselineOf(params: Params, gpu: GpuPreset): Baseline {
  // Megatron SP's ranks are its TP group, so "without SP" means one GPU, t = 1; CP strategies keep
  // their TP degree and lose only CP (and TP's own SP: the plain "TP" row of Table 2).
  const t = params.strategy === 'megatron-sp' ? 1 : params.tp;
  // The same profile as the plan (its gradient dtype), although the solo schedule is not the profile's.
  const solo: Params = { ...params, strategy: 'ring', impl: resolveImpl(params), ranks: 1, tp: t };
  const ctx: PriceContext = {
    params: solo,
    e: DTYPE_BYTES[params.dtype],
    t,
    sp: false,
    headScale: 1 / t,
    rowTokens: (n) => n,
    logitTokens: (n) => n,
    state: modelStateBytes(solo, t, zeroGroupSize({ ...solo, ranks: 1 })),
    gpu,
    gradientGroup: solo.dp,
  };
  const [rank] = priceRanks(ctx, singleRankSchedule(solo));
  if (!rank) throw new Error('baseline: no rank priced');
  return { memory: rank.memory, tp: t };
}

/**
 * Measured efficiency beside the ideal balance, where a source measured this strategy at 8 ranks:
 * zhuzilin/ring-flash-attention README, "Performance Summary", forward + backward iter/s as a
 * fraction of theoretic flash_attn (single-GPU rate / 8), batch API (varlen API for llama3_attn,
 * the all-gather schedule). H800 figures for Hopper-class presets, A100 figures for the A100.
 */
export function measuredBalance(params: Pick<Params, 'strategy' | 'ranks' | 'gpu'>): { measured: number; measuredSource: string } | Record<string, never> {
  if (params.ranks !== 8) return {};
  const a100 = params.gpu === 'a100';
  const table: Partial<Record<Params['strategy'], [number, number, string]>> = {
    ring: [0.539, 0.525, 'ring_flash_attn_func'],
    zigzag: [0.902, 0.898, 'zigzag_ring_flash_attn_func'],
    striped: [0.829, 0.826, 'stripe_flash_attn_func'],
    allgather: [0.581, 0.58, 'llama3_flash_attn_varlen_func (varlen API)'],
  };
  const row = table[params.strategy];
  if (!row) return {};
  const [h800, a100v, fn] = row;
  const striped = params.strategy === 'striped' ? '; Brandon et al. 2023 (Striped Attention) report up to 1.45× end to end over ring attention' : '';
  return {
    measured: a100 ? a100v : h800,
    measuredSource: `zhuzilin/ring-flash-attention README, Performance Summary: ${fn}, forward + backward on 8×${a100 ? 'A100' : 'H800'}, ${((a100 ? a100v : h800) * 100).toFixed(1)}% of theoretic flash_attn${striped}`,
  };
}

/** Prices a given schedule (plan() builds it; tests may pass their own). */
export function priceSchedule(params: Params, schedule: Schedule): Plan {
  const gpu = gpuPreset(params);
  const impl = resolveImpl(params);
  const megatron = params.strategy === 'megatron-sp';
  const t = tpDegree(params);
  const zeroGroup = zeroGroupSize(params);
  const state = modelStateBytes(params, t, zeroGroup);
  // Megatron SP: the schedule shards heads over the t ranks itself, and Table 2's "TP + SP" row
  // takes the full sequence. CP strategies: the schedule lists all heads of a CP rank, of which
  // each of its tp GPUs holds 1/tp; Table 2 takes the CP shard (TP + SP row with t = tp).
  const ctx: PriceContext = {
    params,
    e: DTYPE_BYTES[params.dtype],
    t,
    sp: true,
    headScale: megatron ? 1 : 1 / params.tp,
    rowTokens: megatron ? () => params.seq : (n) => n,
    logitTokens: megatron ? () => params.seq : (n) => n,
    state,
    gpu,
    gradientGroup: megatron ? params.dp : params.dp * params.ranks,
  };
  const baseline = baselineOf(params, gpu);
  const parameters = parameterCounts(params).total;
  // Attention work per compute entry, read by both the timeline and the memory pricing.
  const pairsByEntry = computedPairsByEntry(schedule);
  const timeline = buildTimelineWithPairs(params, schedule, gpu, ctx.headScale, pairsByEntry);
  if (!schedule.valid) {
    return { params, schedule, valid: false, reason: schedule.reason, gpu, tp: t, zeroGroup, parameters, perRank: [], baseline, balance: { perRankFlops: [], maxOverMean: 1, ideal: 1 }, timeline, overlap: timeline.overlap, impl, oom: false };
  }
  const perRank = priceRanks(ctx, schedule, pairsByEntry);
  const perRankFlops = perRank.map((r) => r.causalFlops);
  const mean = perRankFlops.reduce((a, x) => a + x, 0) / Math.max(1, perRankFlops.length);
  const maxOverMean = mean > 0 ? Math.max(...perRankFlops) / mean : 1;
  return {
    params,
    schedule,
    valid: true,
    gpu,
    tp: t,
    zeroGroup,
    parameters,
    perRank,
    baseline,
    balance: { perRankFlops, maxOverMean, ideal: maxOverMean > 0 ? 1 / maxOverMean : 1, ...measuredBalance(params) },
    timeline,
    overlap: timeline.overlap,
    impl,
    oom: perRank.some((r) => r.oom),
  };
}

/**
 * The schedule for params' strategy, priced. Pure and synchronous; block-granular, so 10M tokens plan as fast as 1K.
 * Not memoised: the store already skips unchanged params, and keeping earlier plans alive (several
 * MB each at 64 ranks) made every new plan slower through the garbage collector.
 */
export function plan(params: Params): Plan {
  return priceSchedule(params, buildSchedule(params));
}

/**
 * The fields buildSchedule reads (strategies/common.ts ctxOf, the builders, impl.ts): a change to
 * any other field leaves the schedule as it was. plan.fuzz.test.ts checks this by changing every other
 * field of random params and comparing the schedules.
 */
export const SCHEDULE_FIELDS = ['strategy', 'seq', 'ranks', 'ulysses', 'tp', 'hidden', 'heads', 'kvHeads', 'headDim', 'microBatch', 'dtype', 'impl', 'gpu'] as const satisfies readonly (keyof Params)[];
/** The fields only the GPU verification reads (what it executes): a change to them leaves the plan as it was. */
export const VERIFICATION_FIELDS = ['execSeq', 'seed', 'localMask'] as const satisfies readonly (keyof Params)[];

const sameFields = (a: Readonly<Params>, b: Readonly<Params>, keys: readonly (keyof Params)[]): boolean => keys.every((k) => a[k] === b[k]);

/**
 * The schedule of `params`, reusing `previous`'s when no field buildSchedule reads changed (a
 * pricing or verification field): keeping its identity lets the scene skip its rebuild.
 */
export function reschedule(params: Params, previous: { readonly params: Readonly<Params>; readonly schedule: Schedule } | null): Schedule {
  return previous && sameSchedule(params, previous.params) ? previous.schedule : buildSchedule(params);
}

/** Whether a and b have the same schedule (they agree on every field buildSchedule reads). */
export function sameSchedule(a: Readonly<Params>, b: Readonly<Params>): boolean {
  return sameFields(a, b, SCHEDULE_FIELDS);
}

/**
 * plan(params), reusing what `previous` (the plan of other params) already holds: the whole plan when
 * only verification fields changed, its schedule when only pricing fields changed (model size,
 * ZeRO, recompute, hardware efficiency, …). At 64 ranks the schedule is most of plan()'s time.
 * `schedule`, when given, is this params' schedule already built (the page builds it for the scene
 * while the pricing worker prices its own copy).
 */
export function replan(params: Params, previous: Plan | null, schedule?: Schedule): Plan {
  if (previous && onlyVerificationDiffers(params, previous.params)) return { ...previous, params };
  return priceSchedule(params, schedule ?? reschedule(params, previous));
}

/** Whether a and b differ in verification fields only (so one's plan is the other's, with its params). */
export function onlyVerificationDiffers(a: Readonly<Params>, b: Readonly<Params>): boolean {
  for (const k of Object.keys(a) as (keyof Params)[]) if (a[k] !== b[k] && !(VERIFICATION_FIELDS as readonly string[]).includes(k)) return false;
  return true;
}

/** The CLI's --json contract (issue 2); extra fields beyond the contract are allowed. */
export function planToJson(p: Plan): Record<string, unknown> {
  const out: Record<string, unknown> = {
    strategy: p.params.strategy,
    ranks: p.params.ranks,
    seq: p.params.seq,
    valid: p.valid,
  };
  if (!p.valid) out.reason = p.reason ?? 'invalid';
  out.steps = p.schedule.valid ? p.schedule.steps.length : 0;
  out.perRank = p.perRank.map((r) => ({
    rank: r.rank,
    memory: {
      weights: r.memory.weights,
      grads: r.memory.grads,
      optimizer: r.memory.optimizer,
      activations: r.memory.activations,
      activationsPerLayer: r.memory.activationsPerLayer,
      kvWorkingSet: r.memory.kvWorkingSet,
      scores: r.memory.scores,
      logits: r.memory.logits,
      peak: r.memory.peak,
      gradsDtypeBytes: r.memory.gradsDtypeBytes,
    },
    commBytesPerLayer: { forward: r.commBytesPerLayer.forward, backward: r.commBytesPerLayer.backward },
    causalFlops: r.causalFlops,
    tokens: r.tokens,
    node: r.node,
    oom: r.oom,
    peakStep: r.memory.peakStep,
    memoryByStep: r.memoryByStep,
    commByKind: r.commByKind,
    commLossBytes: r.commLossBytes,
    commBytesPerIteration: { ...r.commBytesPerIteration },
  }));
  out.impl = p.impl;
  out.balance = p.balance;
  out.overlap = { ...p.overlap };
  out.gpu = { id: p.gpu.id, memoryBytes: p.gpu.memoryBytes };
  out.tp = p.tp;
  out.zeroGroup = p.zeroGroup;
  out.parameters = p.parameters;
  out.baseline = { tp: p.baseline.tp, memory: stripMemory(p.baseline.memory) };
  out.timeline = {
    forwardSeconds: p.timeline.forward,
    backwardSeconds: p.timeline.backward,
    lossSeconds: p.timeline.loss,
    exposedSecondsPerLayer: p.timeline.exposedPerLayer,
    ringOverlap: p.timeline.ringOverlap,
    attentionForwardSeconds: p.timeline.attentionForward,
    attentionBackwardSeconds: p.timeline.attentionBackward,
    gemmForwardSeconds: p.timeline.gemmForward,
    gemmBackwardSeconds: p.timeline.gemmBackward,
    recomputeSeconds: p.timeline.recompute,
  };
  return out;
}

function stripMemory(m: RankMemory): Record<string, number> {
  return {
    weights: m.weights,
    grads: m.grads,
    optimizer: m.optimizer,
    activations: m.activations,
    activationsPerLayer: m.activationsPerLayer,
    kvWorkingSet: m.kvWorkingSet,
    scores: m.scores,
    logits: m.logits,
    peak: m.peak,
  };
}
