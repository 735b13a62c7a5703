// The timeline of one layer: per schedule step and rank, attention compute seconds (FLOPs at the
// attention kernels' achieved fraction of peak) and communication seconds (α-β model: α per
// message plus bytes over the link's bandwidth; all-gather and reduce-scatter as NCCL's ring runs
// them), how much communication is exposed rather than hidden under compute, and the layer's
// GEMMs (QKV/output projections and the MLP) at the GEMM efficiency. The overlap verdict is read
// from this same timeline, so the readout and the timeline cannot disagree.

import type { GpuPreset, Params } from './params.ts';
import { DTYPE_BYTES } from './params.ts';
import type { Collective, Phase, RankCompute, RankShard, Schedule, Transfer } from './schedule.ts';
import { computedPairs, tokenCount } from './schedule.ts';
import { parameterCounts } from './memory.ts';

/**
 * Default achieved fractions of peak (Params.attnEff / gemmEff, in percent). No kernel reaches the
 * datasheet's dense peak: FlashAttention-2 reaches "50-73% of the theoretical maximum FLOPs/s on
 * A100" (Dao 2023, abstract; the causal and backward kernels sit at the low end), and "optimized
 * GEMM can reach up to 80-90% of the theoretical maximum device throughput" (same paper, §1).
 */
export const DEFAULT_ATTENTION_EFFICIENCY = 0.5;
export const DEFAULT_GEMM_EFFICIENCY = 0.8;

export function attentionFlopsPerSecond(params: Pick<Params, 'attnEff'>, gpu: GpuPreset): number {
  const eff = Number.isFinite(params.attnEff) && params.attnEff > 0 ? params.attnEff / 100 : DEFAULT_ATTENTION_EFFICIENCY;
  return gpu.flops * eff;
}

export function gemmFlopsPerSecond(params: Pick<Params, 'gemmEff'>, gpu: GpuPreset): number {
  const eff = Number.isFinite(params.gemmEff) && params.gemmEff > 0 ? params.gemmEff / 100 : DEFAULT_GEMM_EFFICIENCY;
  return gpu.flops * eff;
}

/**
 * Forward GEMM FLOPs of one layer for `tokens` tokens: 2 FLOPs per multiply-add over the layer's
 * Q, K, V, O projection and MLP weights (Kaplan et al. 2020 §2.1 / Narayanan et al. 2021 §5.1:
 * forward = 2 · tokens · parameters), split over t tensor-parallel ranks. Backward is twice this
 * (input and weight gradients).
 */
export function gemmForwardFlops(params: Pick<Params, 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'ffnHidden' | 'layers' | 'vocab' | 'microBatch'>, tokens: number, t: number): number {
  const c = parameterCounts(params);
  return (2 * params.microBatch * tokens * (c.attention + c.mlp)) / Math.max(1, t);
}

/**
 * Forward attention FLOPs for `pairs` (query, key) pairs summed over heads: QKᵀ costs 2·d per
 * pair and P·V another 2·d, so 4·d per pair per head (the full causal total is 2·s²·d·heads).
 */
export function attentionFlops(pairsTimesHeads: number, headDim: number, microBatch: number): number {
  return pairsTimesHeads * 4 * headDim * microBatch;
}

/**
 * Backward attention FLOPs relative to forward: dS = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q
 * is twice the forward's two matmuls; flash attention also recomputes QKᵀ: 5 matmuls against 2,
 * the 2.5× that FlashAttention-2's benchmarks use for the backward (Dao 2023, §4).
 */
export function backwardFlopFactor(flash: boolean): number {
  return flash ? 2.5 : 2;
}

/**
 * Ring overlap condition, Liu, Zaharia & Abbeel 2023 (Ring Attention), §3: a host computes
 * 4·d·c² FLOPs per block (d = hidden) while it sends a K and V block of 4·c·d bytes (bf16), so
 * communication hides when 4dc²/F ≥ 4cd/B, i.e. block size c ≥ F/B (their Table 2: ~1K tokens on
 * A100 NVLink, ~24.5K on A100 InfiniBand). Our generalisation: with GQA the K/V block is smaller
 * by a_kv/a, and with e-byte elements the bytes scale by e/2, so c ≥ (F/B)·(a_kv/a)·(e/2).
 */
export function ringMinBlockTokens(flops: number, bandwidth: number, shape: { heads: number; kvHeads: number; bytesPerElement: number }): number {
  return (flops / bandwidth) * (shape.kvHeads / shape.heads) * (shape.bytesPerElement / 2);
}

/**
 * The GPU a CP rank runs on: TP is innermost (Megatron's rank order), so CP rank r with TP degree
 * t uses GPUs r·t … r·t+t−1; Megatron SP's ranks are the TP ranks themselves.
 */
export function nodeOf(rank: number, params: Pick<Params, 'strategy' | 'tp'>, gpu: GpuPreset): number {
  const gpuIndex = params.strategy === 'megatron-sp' ? rank : rank * params.tp;
  return Math.floor(gpuIndex / gpu.gpusPerNode);
}

/**
 * Send-recv rotations (the ring) are issued asynchronously while the step's block is computed,
 * so they overlap compute. All-gather, reduce-scatter, all-to-all and all-reduce produce or
 * consume the tensors that step's compute needs (K/V before attention, dK/dV after), so they sit
 * on the critical path (the reference doc: the all-gather "sits on the critical path").
 */
export function overlapsCompute(c: Collective): boolean {
  return c.overlapsCompute ?? c.kind === 'send-recv';
}

export interface RankStepTime {
  /** Attention compute, seconds. */
  readonly compute: number;
  /** All communication this rank takes part in, seconds. */
  readonly comm: number;
  /** Communication not hidden by compute, seconds. */
  readonly exposed: number;
  /** Waiting for the slowest rank of the step: wall − compute − exposed, seconds. */
  readonly idle: number;
}

export interface StepTime {
  readonly index: number;
  readonly phase: Phase;
  readonly perRank: readonly RankStepTime[];
  /** Step duration: the slowest rank's compute + exposed communication. */
  readonly wall: number;
}

export interface RingOverlap {
  /** Whether the strategy rotates K/V blocks (ring family, USP's ring). */
  readonly applies: boolean;
  /** Tokens in one rotated K/V block (smallest), 0 when not a ring. */
  readonly blockTokens: number;
  /** The block size at which the ring's transfers fit under its steps' compute, read from this timeline (= overlap.neededTokens). */
  readonly minBlockTokens: number;
  /** Liu et al.'s non-causal condition c ≥ F/B (ringMinBlockTokens), for reference only: causal zigzag/striped steps compute half a block, so they need about twice this. */
  readonly paperMinBlockTokens: number;
  /** = overlap.hides for a ring. */
  readonly satisfied: boolean;
  readonly link: 'intra-node' | 'inter-node';
  readonly bandwidth: number;
}

/**
 * The overlap verdict, derived from the timeline: communication hides when the exposed
 * communication of a layer is at most 1% of the layer's time. For a K/V ring, neededTokens is the
 * block size at which every ring step's transfer fits under that step's attention compute: compute
 * grows with the square of the block and the transfer linearly, so needed = block × max over the
 * ring steps of (transfer seconds / compute seconds).
 */
export interface Overlap {
  readonly condition: string;
  readonly blockTokens: number;
  readonly neededTokens: number;
  readonly hides: boolean;
  readonly exposedSecondsPerLayer: number;
}

/** Exposed communication up to this fraction of the layer's time counts as hidden. */
export const HIDDEN_FRACTION = 0.01;

export interface Timeline {
  readonly steps: readonly StepTime[];
  /** Per layer forward: attention steps (Σ step walls) + GEMMs, seconds. */
  readonly forward: number;
  /** Per layer backward: attention steps + GEMMs + the recomputed forward under full recompute, seconds. */
  readonly backward: number;
  /** The loss phase (once per iteration, not per layer). */
  readonly loss: number;
  /** Per layer forward + backward, seconds. */
  readonly perLayer: number;
  /** Per layer: Σ over steps of (step wall − slowest rank's compute), the time communication adds to the critical path (the recomputed forward's included), seconds. */
  readonly exposedPerLayer: number;
  readonly ringOverlap: RingOverlap;
  /** Attention steps alone (Σ step walls), per layer, seconds. */
  readonly attentionForward: number;
  readonly attentionBackward: number;
  /** QKV/output projections and MLP of the busiest rank, per layer, seconds (backward = 2 × forward). */
  readonly gemmForward: number;
  readonly gemmBackward: number;
  /** Full recompute: the layer's forward (attention steps and GEMMs) run again in the backward, seconds. */
  readonly recompute: number;
  readonly overlap: Overlap;
}

export interface LinkModel {
  readonly gpu: GpuPreset;
  readonly node: (rank: number) => number;
}

/** Per-rank accumulators of one collective's α-β time, reused from collective to collective. */
class CollectiveScratch {
  readonly sendTime: Float64Array;
  readonly recvTime: Float64Array;
  readonly sends: Float64Array;
  readonly recvs: Float64Array;
  /** links.node(r) for r < ranks, read once: collectives look it up for each of up to P² transfers. */
  readonly nodes: Float64Array;
  constructor(ranks: number, links: LinkModel) {
    this.sendTime = new Float64Array(ranks);
    this.recvTime = new Float64Array(ranks);
    this.sends = new Float64Array(ranks);
    this.recvs = new Float64Array(ranks);
    this.nodes = new Float64Array(ranks);
    for (let r = 0; r < ranks; r++) this.nodes[r] = links.node(r);
  }
}

/**
 * NCCL's ring all-gather / reduce-scatter (nccl-tests doc/PERFORMANCE.md: p−1 steps, each rank
 * sends (p−1)/p of the data to its ring neighbour; NCCL opens one ring per NIC, rotated so that
 * every GPU's NIC carries one ring's node crossing). A ring over p ranks on N > 1 nodes has N of its
 * p hops between nodes, so a rank sends the fraction N/p of its bytes over its NIC and the rest over
 * NVLink, concurrently: seconds = (p−1)·α + max(S·(1−N/p)/B_nvlink, S·(N/p)/B_nic), S = bytes the
 * rank sends. Each shard crosses the node boundary once, spread over the node's NICs, instead of
 * once per off-node peer from its owner's NIC. Example (all-gather CP, 128K, P = 16 on 2 H100
 * nodes): S = 503 MB, max(440 MB/450 GB/s, 63 MB/50 GB/s) + 15·10 µs ≈ 1.4 ms, not ≈ 6 ms.
 */
export function ncclRingSeconds(sentBytes: number, p: number, nodesInGroup: number, gpu: GpuPreset): number {
  if (p <= 1 || sentBytes <= 0) return 0;
  const nicShare = nodesInGroup > 1 ? Math.min(1, nodesInGroup / p) : 0;
  return (p - 1) * gpu.latency + Math.max((sentBytes * (1 - nicShare)) / gpu.intraNodeBandwidth, (sentBytes * nicShare) / gpu.interNodeBandwidth);
}

const isRingCollective = (kind: Collective['kind']): boolean => kind === 'all-gather' || kind === 'reduce-scatter';

/**
 * Adds the α-β seconds of collective `c` to `out[r]` for every rank r that sends or receives in it
 * (the others' time is 0), and leaves `scratch` zeroed for the next collective. All-gathers and
 * reduce-scatters are priced as NCCL's ring (ncclRingSeconds); sends and all-to-alls as direct
 * messages over the link between the two ranks. Indexed loops and the scratch's node table: this
 * runs over every transfer of a schedule (tens of thousands at 64 ranks) on every slider move.
 */
function addCollectiveSeconds(c: Collective, ranks: number, links: LinkModel, scale: number, scratch: CollectiveScratch, out: Float64Array): void {
  const { sendTime, recvTime, sends, recvs, nodes } = scratch;
  const { gpu } = links;
  const transfers = c.transfers;
  const group = c.group;
  if (isRingCollective(c.kind) && group.length > 1) {
    const groupNodes = new Set<number>();
    for (let i = 0; i < group.length; i++) {
      const r = group[i] as number;
      groupNodes.add(r >= 0 && r < ranks ? (nodes[r] as number) : links.node(r));
    }
    for (let i = 0; i < transfers.length; i++) {
      const t = transfers[i] as Transfer;
      const src = t.src;
      const dst = t.dst;
      if (src === dst) continue;
      if (src >= 0 && src < ranks) sendTime[src] = (sendTime[src] as number) + t.bytes * scale; // bytes, here
      if (dst >= 0 && dst < ranks) recvTime[dst] = (recvTime[dst] as number) + t.bytes * scale;
    }
    for (let i = 0; i < group.length; i++) {
      const r = group[i] as number;
      if (!(r >= 0 && r < ranks)) continue;
      const bytes = Math.max(sendTime[r] as number, recvTime[r] as number);
      if (bytes > 0) out[r] = (out[r] as number) + ncclRingSeconds(bytes, group.length, groupNodes.size, gpu);
    }
    sendTime.fill(0);
    recvTime.fill(0);
    return;
  }
  for (let i = 0; i < transfers.length; i++) {
    const t = transfers[i] as Transfer;
    const src = t.src;
    const dst = t.dst;
    if (src === dst) continue;
    const srcNode = src >= 0 && src < ranks ? (nodes[src] as number) : links.node(src);
    const dstNode = dst >= 0 && dst < ranks ? (nodes[dst] as number) : links.node(dst);
    const bw = srcNode === dstNode ? gpu.intraNodeBandwidth : gpu.interNodeBandwidth;
    const seconds = (t.bytes * scale) / bw;
    if (src >= 0 && src < ranks) {
      sendTime[src] = (sendTime[src] as number) + seconds;
      sends[src] = (sends[src] as number) + 1;
    }
    if (dst >= 0 && dst < ranks) {
      recvTime[dst] = (recvTime[dst] as number) + seconds;
      recvs[dst] = (recvs[dst] as number) + 1;
    }
  }
  for (let r = 0; r < ranks; r++) {
    const n = Math.max(sends[r] as number, recvs[r] as number);
    if (n !== 0) out[r] = (out[r] as number) + (gpu.latency * n + Math.max(sendTime[r] as number, recvTime[r] as number));
  }
  sendTime.fill(0);
  recvTime.fill(0);
  sends.fill(0);
  recvs.fill(0);
}

/**
 * α-β time of one collective for every rank of `ranks`: sends and receives run concurrently
 * (full-duplex links), each side pays α per message plus its bytes over the link's bandwidth —
 * NVLink inside a node, the NIC across nodes — and the slower side sets the time. One pass over
 * the transfers, so an all-gather of P² transfers costs O(P²), not O(P³).
 */
export function collectiveSecondsAll(c: Collective, ranks: number, links: LinkModel, scale = 1): number[] {
  const seconds = new Float64Array(ranks);
  addCollectiveSeconds(c, ranks, links, scale, new CollectiveScratch(ranks, links), seconds);
  return Array.from(seconds);
}

/** collectiveSecondsAll for one rank. */
export function collectiveSeconds(c: Collective, rank: number, links: LinkModel, scale = 1): number {
  return collectiveSecondsAll(c, rank + 1, links, scale)[rank] ?? 0;
}

/**
 * computedPairs of every compute entry of a schedule, step after step in `step.compute` order. The
 * timeline and plan.ts's memory pricing both need this work, so plan() derives it once for both.
 */
export function computedPairsByEntry(schedule: Schedule): Float64Array {
  if (!schedule.valid) return new Float64Array(0);
  let entries = 0;
  for (const step of schedule.steps) entries += step.compute.length;
  const out = new Float64Array(entries);
  // Ring backward steps list the forward's compute arrays again: their pairs are copied, not recounted.
  const firstEntry = new Map<readonly RankCompute[], number>();
  let k = 0;
  for (const step of schedule.steps) {
    const compute = step.compute;
    const seen = compute.length > 0 ? firstEntry.get(compute) : undefined;
    if (seen !== undefined) {
      out.copyWithin(k, seen, seen + compute.length);
      k += compute.length;
      continue;
    }
    if (compute.length > 0) firstEntry.set(compute, k);
    for (let i = 0; i < compute.length; i++) out[k++] = computedPairs(compute[i] as RankCompute);
  }
  return out;
}

/** Distinct per-rank records a timeline step looks through before making a new one. */
const DISTINCT_RECORDS_KEPT = 4;

/** Object.is for numbers: NaN equals NaN, 0 and −0 differ. */
function sameNumber(a: number, b: number): boolean {
  return a === b ? a !== 0 || 1 / a === 1 / b : a !== a && b !== b;
}

/**
 * Builds the timeline of one layer. `scale` multiplies per-head work and bytes (1/t when each TP
 * rank carries only its share of the heads).
 */
export function buildTimeline(params: Params, schedule: Schedule, gpu: GpuPreset, scale = 1): Timeline {
  return buildTimelineWithPairs(params, schedule, gpu, scale, computedPairsByEntry(schedule));
}

/** buildTimeline, given computedPairsByEntry(schedule). */
export function buildTimelineWithPairs(params: Params, schedule: Schedule, gpu: GpuPreset, scale: number, pairsByEntry: Float64Array): Timeline {
  // Node of every rank computed once: collectives look it up for each of up to P² transfers.
  const ranks = schedule.ranks;
  const nodes = new Float64Array(ranks);
  for (let r = 0; r < ranks; r++) nodes[r] = nodeOf(r, params, gpu);
  const nodeAt = (r: number): number => (r >= 0 && r < ranks ? (nodes[r] as number) : nodeOf(r, params, gpu));
  const links: LinkModel = { gpu, node: nodeAt };
  const attnRate = attentionFlopsPerSecond(params, gpu);
  const steps: StepTime[] = [];
  let forward = 0;
  let backward = 0;
  let loss = 0;
  let exposedForward = 0;
  let exposedBackward = 0;
  let blockTokens = Number.POSITIVE_INFINITY;
  let crossesNodes = false;
  let hasRing = false;
  let neededRatio = 0; // max over ring steps of transfer / compute seconds
  let hasBlocking = false;
  if (schedule.valid) {
    // Per-rank accumulators, zeroed and reused for every step.
    const computeByRank = new Float64Array(ranks);
    const blocking = new Float64Array(ranks);
    const overlapping = new Float64Array(ranks);
    const scratch = new CollectiveScratch(ranks, links);
    const keptRecords = new Array<RankStepTime>(DISTINCT_RECORDS_KEPT);
    const keptValues = new Float64Array(4 * DISTINCT_RECORDS_KEPT);
    let entry = 0; // index into pairsByEntry
    // Indexed loops and no per-rank helper calls below: a call taking or returning doubles boxes
    // them, and this runs steps × ranks times on every slider move.
    for (const step of schedule.steps) {
      computeByRank.fill(0);
      blocking.fill(0);
      overlapping.fill(0);
      const bwd = step.phase === 'backward' ? backwardFlopFactor(params.flash) : 1;
      const compute = step.compute;
      for (let k = 0; k < compute.length; k++) {
        const rank = (compute[k] as RankCompute).rank;
        const pairs = pairsByEntry[entry++] ?? 0;
        if (rank >= 0 && rank < ranks) computeByRank[rank] = (computeByRank[rank] as number) + (attentionFlops(pairs, params.headDim, params.microBatch) * scale * bwd) / attnRate;
      }
      let stepHasRing = false;
      const collectives = step.collectives;
      for (let k = 0; k < collectives.length; k++) {
        const c = collectives[k] as Collective;
        const overlaps = overlapsCompute(c);
        addCollectiveSeconds(c, ranks, links, scale, scratch, overlaps ? overlapping : blocking);
        if (!overlaps && c.kind !== 'all-reduce') hasBlocking = true;
        if (overlaps) {
          const transfers = c.transfers;
          for (let i = 0; i < transfers.length; i++) {
            const t = transfers[i] as Transfer;
            if (t.tensor === 'dK') stepHasRing = true;
            if (t.tensor !== 'K' || t.src === t.dst) continue;
            hasRing = true;
            stepHasRing = true;
            blockTokens = Math.min(blockTokens, tokenCount(t.tokens));
            if (nodeAt(t.src) !== nodeAt(t.dst)) crossesNodes = true;
          }
        }
      }
      // Wall first, so that each rank's record is made once, idle included.
      let wall = 0;
      let maxCompute = 0;
      let maxOver = 0;
      for (let r = 0; r < ranks; r++) {
        const compute = computeByRank[r] as number;
        const over = overlapping[r] as number;
        const exposed = (blocking[r] as number) + Math.max(0, over - compute);
        wall = Math.max(wall, compute + exposed);
        maxCompute = Math.max(maxCompute, compute);
        maxOver = Math.max(maxOver, over);
      }
      if (stepHasRing && maxCompute > 0) neededRatio = Math.max(neededRatio, maxOver / maxCompute);
      // Most ranks of a step time out alike (the same block work over the same kind of link), so
      // the step keeps a few distinct records and ranks share them instead of allocating P per
      // step (records are never mutated).
      // The last DISTINCT_RECORDS_KEPT records made, in a ring, with their numbers unboxed beside
      // them (reading them back from the records costs more than making the record). Kept records
      // differ pairwise, so at most one matches and the order they are searched in does not matter.
      const perRank = new Array<RankStepTime>(ranks);
      let kept = 0;
      let next = 0; // ring slot the next new record goes to
      for (let r = 0; r < ranks; r++) {
        const compute = computeByRank[r] as number;
        const block = blocking[r] as number;
        const over = overlapping[r] as number;
        const exposed = block + Math.max(0, over - compute);
        const comm = block + over;
        const idle = Math.max(0, wall - compute - exposed);
        let record: RankStepTime | undefined;
        for (let k = 0; k < kept; k++) {
          const at = 4 * k;
          if (sameNumber(keptValues[at] as number, compute) && sameNumber(keptValues[at + 1] as number, comm) && sameNumber(keptValues[at + 2] as number, exposed) && sameNumber(keptValues[at + 3] as number, idle)) {
            record = keptRecords[k];
            break;
          }
        }
        if (!record) {
          record = { compute, comm, exposed, idle };
          keptRecords[next] = record;
          keptValues[4 * next] = compute;
          keptValues[4 * next + 1] = comm;
          keptValues[4 * next + 2] = exposed;
          keptValues[4 * next + 3] = idle;
          next = (next + 1) % DISTINCT_RECORDS_KEPT;
          if (kept < DISTINCT_RECORDS_KEPT) kept++;
        }
        perRank[r] = record;
      }
      steps.push({ index: step.index, phase: step.phase, perRank, wall });
      if (step.phase === 'forward') {
        forward += wall;
        exposedForward += wall - maxCompute;
      } else if (step.phase === 'backward') {
        backward += wall;
        exposedBackward += wall - maxCompute;
      } else loss += wall;
    }
  }
  // GEMMs of the busiest rank: Megatron SP runs them on the whole sequence with 1/t of the
  // weights; CP ranks on their own tokens with 1/tp of the weights.
  let gemmTokens = 0;
  if (schedule.valid) for (let r = 0; r < schedule.shards.length; r++) gemmTokens = Math.max(gemmTokens, tokenCount((schedule.shards[r] as RankShard).tokens));
  const megatron = params.strategy === 'megatron-sp';
  const gemmForward = schedule.valid ? gemmForwardFlops(params, megatron ? params.seq : gemmTokens, megatron ? schedule.ranks : params.tp) / gemmFlopsPerSecond(params, gpu) : 0;
  const gemmBackward = 2 * gemmForward;
  // Full recompute (Korthikanti et al. 2022 §5: one extra forward pass) reruns the layer's forward,
  // attention collectives included, before its backward.
  const full = params.recompute === 'full';
  const recompute = full ? forward + gemmForward : 0;
  const exposedPerLayer = exposedForward * (full ? 2 : 1) + exposedBackward;
  const totalForward = forward + gemmForward;
  const totalBackward = backward + gemmBackward + recompute;
  const perLayer = totalForward + totalBackward;

  const bandwidth = crossesNodes ? gpu.interNodeBandwidth : gpu.intraNodeBandwidth;
  const paperMinBlockTokens = ringMinBlockTokens(gpu.flops, bandwidth, { heads: params.heads, kvHeads: params.kvHeads, bytesPerElement: DTYPE_BYTES[params.dtype] });
  const block = hasRing ? blockTokens : 0;
  const neededTokens = hasRing ? Math.ceil(block * neededRatio) : 0;
  const hides = exposedPerLayer <= HIDDEN_FRACTION * perLayer;
  const link = crossesNodes ? 'across nodes' : 'within a node';
  const condition = hasRing
    ? `K/V ring: each step's transfer (${link}) must finish within the step's attention compute; compute grows as block², the transfer as block, so blocks of ≥ ${neededTokens} tokens hide it (here ${block})${hasBlocking ? '; the collectives outside the ring (all-to-all, all-gather) sit on the critical path' : ''}; hides when exposed communication ≤ ${HIDDEN_FRACTION * 100}% of the layer time`
    : schedule.valid && schedule.ranks > 1
      ? `no K/V ring: the collectives produce or consume the data the compute needs, so they sit on the critical path; hides when exposed communication ≤ ${HIDDEN_FRACTION * 100}% of the layer time`
      : 'one rank: nothing to communicate';
  return {
    steps,
    forward: totalForward,
    backward: totalBackward,
    loss,
    perLayer,
    exposedPerLayer,
    ringOverlap: {
      applies: hasRing,
      blockTokens: block,
      minBlockTokens: neededTokens,
      paperMinBlockTokens,
      satisfied: hasRing && hides,
      link: crossesNodes ? 'inter-node' : 'intra-node',
      bandwidth,
    },
    attentionForward: forward,
    attentionBackward: backward,
    gemmForward,
    gemmBackward,
    recompute,
    overlap: { condition, blockTokens: block, neededTokens, hides, exposedSecondsPerLayer: exposedPerLayer },
  };
}
