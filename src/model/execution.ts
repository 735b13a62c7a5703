// ExecPlan: a Schedule's forward steps turned into the buffer-level operations a machine with one
// buffer set per rank performs. The GPU runner (src/gpu/AttentionRunner.ts) and the CPU executor
// (src/model/reference.ts) both execute this same plan, so the CPU fallback also moves data rank to
// rank, and the scene can show what every rank holds at every step.
//
// Pure TypeScript: no GPU, no DOM. Sizes are the EXECUTED size (params.execSeq), so token positions
// are materialised as arrays (at most 16K tokens).
//
// Rules:
// - Before step 0 every rank holds its shard (schedule.shards[r].tokens) of Q, K and V for all heads:
//   the activations that come out of the token-wise layers.
// - A compute in step t reads only data usable at step t: its shard, or data delivered by a collective
//   listed in a step < t. Its Q operand (query heads) and K/V operands (the K/V heads of those query
//   heads, GQA: floor(h·kvHeads/heads)) are used in place when one buffer holds exactly those tokens in
//   that order; otherwise an operand buffer is assembled from what the rank holds (local copies, like
//   the local part of an all-gather). Its running state (m, l, acc) lives per (rank, query tokens, heads)
//   and is finalised (O, lse) right after its last compute.
// - A collective in step t is carried out as copies from the source rank's buffers into a landing
//   buffer on the destination rank, usable from step t+1. Transfers of one collective to one rank and
//   tensor share one landing buffer when they have the same heads (tokens concatenated in transfer
//   order) or the same tokens (heads side by side).
// - Megatron SP: an all-gather of X (hidden-size activations) precedes the column-parallel QKV
//   projection, which we do not run. We treat an X transfer before the destination's attention as
//   delivering the Q/K/V rows of the destination's heads, and the first X collective after the
//   attention (the reduce-scatter after the row-parallel output projection) as moving the source's
//   O rows. The X collectives around the MLP carry no attention data and are not executed.
// - A buffer lives from the step it is allocated to its last use; final O buffers live to the end.

import type { HeadRange, RankCompute, Schedule, Segment, TokenSet, Transfer, ValidSchedule } from './schedule.ts';
import { tokenCount } from './schedule.ts';

export type PieceTensor = 'Q' | 'K' | 'V' | 'O' | 'lse' | 'm' | 'l' | 'acc' | 'dO' | 'stats' | 'dQ' | 'dK' | 'dV';
/** 'partial': one backward compute's dK or dV of its K/V block; 'gradient': a rank's final dQ/dK/dV of its shard. */
export type PieceRole = 'shard' | 'received' | 'operand' | 'state' | 'output' | 'partial' | 'gradient';
export type GradientTensor = 'dQ' | 'dK' | 'dV';

/** One buffer on one rank, laid out [heads, tokens, width] f32. */
export interface Piece {
  readonly id: number;
  readonly rank: number;
  readonly tensor: PieceTensor;
  readonly role: PieceRole;
  /** GPU label, `AttentionRunner.member[rank]`. */
  readonly label: string;
  /** Global token positions in buffer order. */
  readonly positions: Int32Array;
  /** The same positions as strided segments (increasing within a segment). */
  readonly tokens: TokenSet;
  /** Query heads for Q/O/lse/m/l/acc, K/V heads for K/V. */
  readonly heads: HeadRange;
  /** headDim for Q/K/V/O/acc/dO/dQ/dK/dV, 1 for m/l/lse, 2 for stats (lse, D). */
  readonly width: number;
  readonly elements: number;
  /** First step at which the data exists (a landing buffer exists while its collective is in flight). */
  readonly allocStep: number;
  /** First step at which the data may be read. */
  readonly readyStep: number;
  /** Last step that reads it (Infinity: kept to the end, the final output). */
  lastUse: number;
}

/** Copy `count` f32 elements. Offsets in elements. */
export interface CopyOp {
  readonly src: number;
  readonly srcOffset: number;
  readonly dst: number;
  readonly dstOffset: number;
  readonly count: number;
}

export interface ComputeOp {
  readonly rank: number;
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly m: number;
  readonly l: number;
  readonly acc: number;
  /** Global query heads computed; the state buffers hold exactly these. */
  readonly heads: HeadRange;
  /** Global query head of the Q buffer's head 0. */
  readonly qHeadBase: number;
  /** Global K/V head of the K and V buffers' head 0. */
  readonly kvHeadBase: number;
  readonly qTokens: TokenSet;
  readonly kvTokens: TokenSet;
  readonly tq: number;
  readonly tkv: number;
  /** First block for this state: ignore its (unwritten) contents. */
  readonly init: boolean;
}

export interface FinaliseOp {
  readonly rank: number;
  readonly m: number;
  readonly l: number;
  readonly acc: number;
  readonly o: number;
  readonly lse: number;
}

export interface PlanStep {
  /** Index among the forward steps (== index into schedule.steps, forward steps come first). */
  readonly index: number;
  readonly caption: string;
  /** Local copies that build operand buffers, before the compute. */
  readonly assemble: CopyOp[];
  /** One per RankCompute: one dispatch each. */
  readonly compute: ComputeOp[];
  /** States whose last block was this step's. */
  readonly finalise: FinaliseOp[];
  /** The step's collectives as copies, source rank buffer → destination rank buffer. */
  readonly transfers: CopyOp[];
  readonly collectives: readonly string[];
}

export interface TraceTarget {
  readonly rank: number;
  /** Global token and head of the traced query row. */
  readonly token: number;
  readonly head: number;
  readonly m: number;
  readonly l: number;
  readonly acc: number;
  /** Row index within the state buffers ([heads, tokens] layout): (head − heads.start)·tokens + row. */
  readonly rowIndex: number;
  readonly firstStep: number;
  readonly lastStep: number;
}

/** D = rowsum(dO ∘ O) of one backward state, stored with its lse (shaders/backward_preprocess.wgsl). */
export interface PreprocessOp {
  readonly rank: number;
  readonly dO: number;
  readonly o: number;
  readonly lse: number;
  /** [computeHeads, tq, 2] (lse, D) */
  readonly stats: number;
  readonly tq: number;
  readonly computeHeads: number;
  /** Head of the dO buffer that holds computed head 0. */
  readonly dOHeadOffset: number;
}

/** One backward dispatch (shaders/attention_backward.wgsl): dQ += …, fresh dK, dV partials of the K/V block. */
export interface BackwardComputeOp {
  readonly rank: number;
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly dO: number;
  readonly stats: number;
  readonly dq: number;
  readonly dk: number;
  readonly dv: number;
  readonly heads: HeadRange;
  readonly qHeadBase: number;
  readonly kvHeadBase: number;
  readonly dOHeadBase: number;
  /** K/V heads of the dk/dv partials (those read by `heads`). */
  readonly kvOut: HeadRange;
  readonly qTokens: TokenSet;
  readonly kvTokens: TokenSet;
  readonly tq: number;
  readonly tkv: number;
  /** First block of this dQ state: overwrite instead of accumulating. */
  readonly init: boolean;
}

export interface BackwardStep {
  /** The schedule's step index (backward steps follow the forward and loss steps). */
  readonly index: number;
  readonly caption: string;
  readonly assemble: CopyOp[];
  readonly preprocess: PreprocessOp[];
  /** One per RankCompute: one dispatch each. */
  readonly compute: BackwardComputeOp[];
  /**
   * Element-wise sums dst += src on one rank, after the compute and before the sends: a rank that
   * holds several partial sums of the gradient it is about to send adds them first (ring: its own
   * block partial + the partial sum received from the previous rank).
   */
  readonly reduce: CopyOp[];
  readonly transfers: CopyOp[];
  readonly collectives: readonly string[];
}

export interface BackwardPlan {
  readonly steps: readonly BackwardStep[];
  /** After the last step: each rank sums what it holds of its own shard into its final gradients (copies first, then adds). */
  readonly gather: { readonly index: number; readonly copies: CopyOp[]; readonly adds: CopyOp[] };
  /** Final gradient pieces, one per rank with tokens: dQ [heads, shard, d], dK and dV [kvHeads, shard, d]. */
  readonly gradients: { readonly dq: readonly number[]; readonly dk: readonly number[]; readonly dv: readonly number[] };
  /** (head, token) entries of the final gradients no contribution reached (0 for a correct schedule). */
  readonly missing: number;
  /** (head, token) entries of partial sums left on a rank that does not own them (0 for a correct schedule). */
  readonly stranded: number;
}

export interface ExecPlan {
  readonly strategy: string;
  readonly ranks: number;
  readonly seq: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly pieces: readonly Piece[];
  readonly steps: readonly PlanStep[];
  /** Final O buffers: together they cover every (head, token). */
  readonly outputs: readonly number[];
  readonly trace: TraceTarget | null;
  /** The backward steps, or null when the schedule has none or they cannot be executed (backwardError says why). */
  readonly backward: BackwardPlan | null;
  readonly backwardError: string | null;
}

export interface HeldBuffer {
  readonly tensor: PieceTensor;
  readonly role: PieceRole;
  readonly label: string;
  readonly tokens: TokenSet;
  readonly heads: HeadRange;
  /** At the executed size, f32. */
  readonly bytes: number;
  /** 'receiving': a collective is filling it during this step. */
  readonly status: 'held' | 'receiving';
}

/** Per forward step, per rank, the buffers the rank holds (for the scene). */
export function heldBuffers(plan: ExecPlan): HeldBuffer[][][] {
  return plan.steps.map((step) => {
    const perRank: HeldBuffer[][] = Array.from({ length: plan.ranks }, () => []);
    for (const p of plan.pieces) {
      if (p.allocStep > step.index || p.lastUse < step.index) continue;
      perRank[p.rank]?.push({
        tensor: p.tensor,
        role: p.role,
        label: p.label,
        tokens: p.tokens,
        heads: p.heads,
        bytes: p.elements * 4,
        status: p.readyStep > step.index ? 'receiving' : 'held',
      });
    }
    return perRank;
  });
}

// ---------------------------------------------------------------------------------------------

export function positionsOf(set: TokenSet): Int32Array {
  const out = new Int32Array(tokenCount(set));
  let i = 0;
  for (const seg of set) for (let n = 0; n < seg.count; n++) out[i++] = seg.start + n * seg.stride;
  return out;
}

/** Compresses positions into increasing strided segments (greedy). */
export function segmentsOf(positions: Int32Array): Segment[] {
  const segs: Segment[] = [];
  let i = 0;
  while (i < positions.length) {
    const start = positions[i] as number;
    if (i + 1 >= positions.length || (positions[i + 1] as number) <= start) {
      segs.push({ start, count: 1, stride: 1 });
      i += 1;
      continue;
    }
    const stride = (positions[i + 1] as number) - start;
    let j = i + 1;
    while (j + 1 < positions.length && (positions[j + 1] as number) - (positions[j] as number) === stride) j++;
    segs.push({ start, count: j - i + 1, stride });
    i = j + 1;
  }
  return segs;
}

function samePositions(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** K/V heads read by query heads [start, end) (GQA: floor(h·kvHeads/heads)). */
export function kvHeadRange(heads: HeadRange, numHeads: number, numKvHeads: number): HeadRange {
  return { start: Math.floor((heads.start * numKvHeads) / numHeads), end: Math.floor(((heads.end - 1) * numKvHeads) / numHeads) + 1 };
}

const covers = (outer: HeadRange, inner: HeadRange): boolean => outer.start <= inner.start && outer.end >= inner.end;
const headCount = (h: HeadRange): number => h.end - h.start;
const rangeText = (h: HeadRange): string => `heads ${h.start}..${h.end - 1}`;

interface StateEntry {
  readonly m: Piece;
  readonly l: Piece;
  readonly acc: Piece;
  readonly heads: HeadRange;
  readonly lastCompute: number;
  readonly firstCompute: number;
  finalised: boolean;
  o?: Piece;
  lse?: Piece;
}

export interface PlanDims {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/** Tensors looked up by token position (operands, collective sources, gradient partial sums). */
const INDEXED: Partial<Record<PieceTensor, number>> = { Q: 0, K: 1, V: 2, O: 3, dO: 4, dQ: 5, dK: 6, dV: 7 };
const INDEXED_COUNT = 8;

/** Newest first: the latest delivery of a block is the one a rank would read. */
const newer = (a: Piece, b: Piece): boolean => a.readyStep > b.readyStep || (a.readyStep === b.readyStep && a.id > b.id);

class Planner {
  readonly pieces: Piece[] = [];
  readonly steps: PlanStep[] = [];
  readonly byRank: Piece[][];
  readonly #maps = new Map<number, Map<number, number>>();
  readonly states = new Map<string, StateEntry>();
  /** Per piece id, 1 when a copy reads it (an array, not a Set: set per copied run). */
  readonly #sourced: number[] = [];
  /**
   * Per (rank, tensor, token position): the pieces holding it, newest first. Lookups touch only the
   * few pieces that hold a token instead of every piece the rank ever held (at 64 ranks a rank holds
   * ~500 pieces, and every operand, transfer and gradient send searched them all). Linked lists in
   * typed arrays, since the index has an entry per token of every piece: #heads[rank·INDEXED_COUNT +
   * tensor][g] is 1 + the first entry (0: none); entry e holds piece #entryPiece[e] at buffer index
   * #entryIndex[e] (the token's first occurrence), followed by entry #entryNext[e] (−1: end).
   */
  readonly #heads: (Int32Array | undefined)[];
  /** Lists of positions outside [0, seq) (a broken schedule), keyed by rank, tensor and position. */
  readonly #strayHeads = new Map<string, number>();
  #entryPiece = new Int32Array(1 << 14);
  #entryIndex = new Int32Array(1 << 14);
  #entryNext = new Int32Array(1 << 14);
  #entries = 0;
  /**
   * Schedules reuse token-set objects (a block's tokens travel hop after hop), and pieces never
   * modify their positions, so pieces share one positions array per token set and one segment list
   * per positions array: typed-array allocation dominated the plan's cost at 64 ranks.
   */
  readonly #positions = new Map<TokenSet, Int32Array>();
  readonly #segments = new Map<Int32Array, Segment[]>();

  constructor(
    readonly schedule: ValidSchedule,
    readonly dims: PlanDims,
  ) {
    this.byRank = Array.from({ length: schedule.ranks }, () => []);
    this.#heads = new Array(schedule.ranks * INDEXED_COUNT);
  }

  /** One literal of one shape, not { ...piece, id, … }: cloning and extending objects of several shapes cost more than the rest of the planning. */
  add(piece: Omit<Piece, 'id' | 'tokens' | 'elements' | 'lastUse'>): Piece {
    const { rank, tensor, role, label, positions, heads, width, allocStep, readyStep } = piece;
    const id = this.pieces.length;
    const tokens = this.#segmentsOf(positions);
    const elements = headCount(heads) * positions.length * width;
    const lastUse = readyStep;
    const p: Piece = { rank, tensor, role, label, positions, heads, width, allocStep, readyStep, id, tokens, elements, lastUse };
    this.pieces.push(p);
    this.#sourced.push(0);
    const list = this.byRank[p.rank];
    if (!list) throw new Error(`rank ${p.rank} is outside the ${this.schedule.ranks} ranks`);
    list.push(p);
    const code = INDEXED[p.tensor];
    if (code !== undefined) {
      for (let i = 0; i < p.positions.length; i++) this.#index(p, code, p.positions[i] as number, i);
    }
    return p;
  }

  /** positionsOf(set), shared: do not modify. */
  positions(set: TokenSet): Int32Array {
    let p = this.#positions.get(set);
    if (!p) {
      p = positionsOf(set);
      this.#positions.set(set, p);
    }
    return p;
  }

  #segmentsOf(positions: Int32Array): Segment[] {
    let s = this.#segments.get(positions);
    if (!s) {
      s = segmentsOf(positions);
      this.#segments.set(positions, s);
    }
    return s;
  }

  #index(p: Piece, code: number, g: number, i: number): void {
    const seq = this.schedule.seq;
    let heads: Int32Array | undefined;
    let first: number;
    if (g >= 0 && g < seq) {
      const slot = p.rank * INDEXED_COUNT + code;
      heads = this.#heads[slot];
      if (!heads) this.#heads[slot] = heads = new Int32Array(seq);
      first = (heads[g] as number) - 1;
    } else first = this.#strayHeads.get(`${p.rank}|${code}|${g}`) ?? -1;
    if (first >= 0 && this.#entryPiece[first] === p.id) return; // a repeated position: keep the first
    const e = this.#entries++;
    if (e === this.#entryPiece.length) {
      const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(2 * a.length);
        b.set(a);
        return b;
      };
      this.#entryPiece = grow(this.#entryPiece);
      this.#entryIndex = grow(this.#entryIndex);
      this.#entryNext = grow(this.#entryNext);
    }
    this.#entryPiece[e] = p.id;
    this.#entryIndex[e] = i;
    this.#entryNext[e] = first;
    if (heads) heads[g] = e + 1;
    else this.#strayHeads.set(`${p.rank}|${code}|${g}`, e);
  }

  /** The first entry of the pieces of `rank` holding (tensor, position g), or −1; see #heads. */
  firstHolder(rank: number, tensor: PieceTensor, g: number): number {
    const code = INDEXED[tensor];
    if (code === undefined) throw new Error(`internal: ${tensor} is not indexed by position`);
    if (g >= 0 && g < this.schedule.seq) return ((this.#heads[rank * INDEXED_COUNT + code]?.[g] ?? 0) as number) - 1;
    return this.#strayHeads.get(`${rank}|${code}|${g}`) ?? -1;
  }

  holderPiece(e: number): Piece {
    return this.pieces[this.#entryPiece[e] as number] as Piece;
  }

  holderIndex(e: number): number {
    return this.#entryIndex[e] as number;
  }

  nextHolder(e: number): number {
    return this.#entryNext[e] as number;
  }

  /** Buffer index in the piece #newest returned last. */
  #newestIndex = -1;

  /** The newest piece of `rank` holding (tensor, g) for `heads`, readable at `step`, other than `exclude`. */
  #newest(rank: number, tensor: PieceTensor, g: number, step: number, heads: HeadRange, exclude: number): Piece | undefined {
    let best: Piece | undefined;
    for (let e = this.firstHolder(rank, tensor, g); e >= 0; e = this.#entryNext[e] as number) {
      const p = this.holderPiece(e);
      if (p.id === exclude || p.readyStep > step || !covers(p.heads, heads)) continue;
      if (!best || newer(p, best)) {
        best = p;
        this.#newestIndex = this.#entryIndex[e] as number;
      }
    }
    return best;
  }

  #map(p: Piece): Map<number, number> {
    let m = this.#maps.get(p.id);
    if (!m) {
      m = new Map();
      for (let i = 0; i < p.positions.length; i++) if (!m.has(p.positions[i] as number)) m.set(p.positions[i] as number, i);
      this.#maps.set(p.id, m);
    }
    return m;
  }

  static touch(p: Piece, step: number): void {
    if (p.lastUse < step) p.lastUse = step;
  }

  /**
   * Copies (tensor, positions, heads) held by `rank` at `step` into `dst` starting at token index
   * `dstToken` (dst's heads must cover `heads`). Throws when the rank does not hold something.
   */
  fill(ops: CopyOp[], rank: number, tensor: PieceTensor, positions: Int32Array, heads: HeadRange, step: number, dst: Piece, dstToken: number, why: string): void {
    const perToken: (Piece | undefined)[] = new Array(positions.length);
    const perPos: number[] = new Array(positions.length);
    let missing = 0;
    for (let i = 0; i < positions.length; i++) {
      const found = this.#newest(rank, tensor, positions[i] as number, step, heads, dst.id);
      if (found) {
        perToken[i] = found;
        perPos[i] = this.#newestIndex;
      } else missing++;
    }
    const emit = (h: number, srcPiece: Piece, srcPos: number, dstPos: number, n: number): void => {
      const w = dst.width;
      const srcOffset = ((h - srcPiece.heads.start) * srcPiece.positions.length + srcPos) * w;
      const dstOffset = ((h - dst.heads.start) * dst.positions.length + dstPos) * w;
      const last = ops[ops.length - 1];
      if (last && last.src === srcPiece.id && last.dst === dst.id && last.srcOffset + last.count === srcOffset && last.dstOffset + last.count === dstOffset) {
        (last as { count: number }).count += n * w; // ops are this plan's own objects
      } else ops.push({ src: srcPiece.id, srcOffset, dst: dst.id, dstOffset, count: n * w });
      Planner.touch(srcPiece, step);
      this.#sourced[srcPiece.id] = 1;
    };
    const runs = (h: number, pieceAt: (i: number) => Piece | undefined, posAt: (i: number) => number): void => {
      let i = 0;
      while (i < positions.length) {
        const src = pieceAt(i);
        if (!src) {
          i++;
          continue;
        }
        let j = i + 1;
        while (j < positions.length && pieceAt(j) === src && posAt(j) === posAt(i) + (j - i)) j++;
        emit(h, src, posAt(i), dstToken + i, j - i);
        i = j;
      }
    };
    for (let h = heads.start; h < heads.end; h++) runs(h, (i) => perToken[i], (i) => perPos[i] as number);
    if (missing === 0) return;
    // Tokens no single buffer holds for all heads: look them up head by head.
    for (let h = heads.start; h < heads.end; h++) {
      const one = { start: h, end: h + 1 };
      const pieceH: (Piece | undefined)[] = new Array(positions.length);
      const posH: number[] = new Array(positions.length);
      for (let i = 0; i < positions.length; i++) {
        if (perToken[i]) continue;
        const g = positions[i] as number;
        const found = this.#newest(rank, tensor, g, step, one, dst.id);
        if (!found) {
          throw new Error(
            `${this.schedule.strategy}: step ${step}: rank ${rank} must hold ${tensor} of token ${g}, head ${h} to ${why}, but no buffer it holds at that step has it.`,
          );
        }
        pieceH[i] = found;
        posH[i] = this.#newestIndex;
      }
      runs(h, (i) => pieceH[i], (i) => posH[i] as number);
    }
  }

  /** A buffer on `rank` holding exactly (tensor, positions, heads ⊆ its heads) at `step`, assembling one if needed. */
  operand(step: { readonly index: number; readonly assemble: CopyOp[] }, rank: number, tensor: 'Q' | 'K' | 'V' | 'dO', positions: Int32Array, heads: HeadRange): Piece {
    // An exact match holds positions[0] at index 0.
    let exact: Piece | undefined;
    for (let e = positions.length ? this.firstHolder(rank, tensor, positions[0] as number) : -1; e >= 0; e = this.nextHolder(e)) {
      const p = this.holderPiece(e);
      if (this.holderIndex(e) !== 0 || p.readyStep > step.index || !covers(p.heads, heads) || !samePositions(p.positions, positions)) continue;
      if (!exact || newer(p, exact)) exact = p;
    }
    if (exact) {
      Planner.touch(exact, step.index);
      return exact;
    }
    const piece = this.add({
      rank,
      tensor,
      role: 'operand',
      label: `AttentionRunner.${tensor.toLowerCase()}Operand[${rank}]`,
      positions,
      heads,
      width: this.dims.headDim,
      allocStep: step.index,
      readyStep: step.index,
    });
    this.fill(step.assemble, rank, tensor, positions, heads, step.index, piece, 0, `compute step ${step.index}`);
    return piece;
  }

  sourced(id: number): boolean {
    return this.#sourced[id] === 1;
  }

  /** Buffer index of global position g in p, or −1. */
  indexOf(p: Piece, g: number): number {
    return this.#map(p).get(g) ?? -1;
  }

  /**
   * Gradient pieces (dQ/dK/dV): 1 where the piece holds a contribution not yet passed on, per
   * [head − heads.start, buffer index]. Sending or gathering an entry clears it.
   */
  // All gradient pieces' flags in one pool (one small typed array per piece was a large share of the
  // plan's cost): piece id → offset of its flags in #unsentPool.
  readonly #unsentAt: number[] = [];
  #unsentPool = new Uint8Array(1024);
  #unsentUsed = 0;

  addGradient(piece: Omit<Piece, 'id' | 'tokens' | 'elements' | 'lastUse'>): Piece {
    const p = this.add(piece);
    const n = headCount(p.heads) * p.positions.length;
    if (this.#unsentUsed + n > this.#unsentPool.length) {
      const grown = new Uint8Array(Math.max(2 * this.#unsentPool.length, this.#unsentUsed + n));
      grown.set(this.#unsentPool);
      this.#unsentPool = grown;
    }
    this.#unsentPool.fill(1, this.#unsentUsed, this.#unsentUsed + n);
    while (this.#unsentAt.length < p.id) this.#unsentAt.push(-1);
    this.#unsentAt.push(this.#unsentUsed);
    this.#unsentUsed += n;
    return p;
  }

  isGradient(p: Piece): boolean {
    return (this.#unsentAt[p.id] ?? -1) >= 0;
  }

  /** The flags pool and the offset of p's flags ([head − heads.start, buffer index]); p must be a gradient piece. */
  unsentFlags(p: Piece): { readonly flags: Uint8Array; readonly at: number } {
    return { flags: this.#unsentPool, at: this.#unsentAt[p.id] as number };
  }

  /** Entries of all gradient pieces still flagged. */
  unsentTotal(): number {
    let n = 0;
    for (let i = 0; i < this.#unsentUsed; i++) n += this.#unsentPool[i] as number;
    return n;
  }
}

function stateKey(rank: number, heads: HeadRange, q: TokenSet): string {
  return `${rank}|${heads.start}-${heads.end}|${q.map((s) => `${s.start},${s.count},${s.stride}`).join(';')}`;
}

/** Forward steps, in order (the schedule lists forward steps first). */
export function forwardSteps(schedule: ValidSchedule): ValidSchedule['steps'] {
  return schedule.steps.filter((s) => s.phase === 'forward');
}

/**
 * Builds the buffer-level plan of a valid schedule's forward steps. Throws an Error naming the step,
 * rank, tensor and token when the schedule asks a rank to use or send data it does not hold.
 */
export function buildExecPlan(schedule: Schedule, dims: PlanDims): ExecPlan {
  if (!schedule.valid) throw new Error(schedule.reason);
  const { heads: H, kvHeads: KVH, headDim: D } = dims;
  if (H % KVH !== 0) throw new Error(`K/V heads (${KVH}) must divide the ${H} query heads.`);
  const planner = new Planner(schedule, dims);
  const all: HeadRange = { start: 0, end: H };
  const allKv: HeadRange = { start: 0, end: KVH };
  const kvOf = (h: HeadRange): HeadRange => kvHeadRange(h, H, KVH);
  const fwd = forwardSteps(schedule);

  for (const shard of schedule.shards) {
    const positions = planner.positions(shard.tokens);
    const r = shard.rank;
    for (const [tensor, heads] of [['Q', all], ['K', allKv], ['V', allKv]] as const) {
      planner.add({ rank: r, tensor, role: 'shard', label: `AttentionRunner.${tensor.toLowerCase()}Shard[${r}]`, positions, heads, width: D, allocStep: 0, readyStep: 0 });
    }
  }

  // First and last compute step of every state, and each rank's compute heads per step (for X transfers).
  const lastCompute = new Map<string, number>();
  const firstCompute = new Map<string, number>();
  const computeHeadsAt: (HeadRange | undefined)[][] = fwd.map(() => new Array(schedule.ranks));
  fwd.forEach((step, t) => {
    for (const rc of step.compute) {
      if (tokenCount(rc.q) === 0 || tokenCount(rc.kv) === 0) continue;
      const key = stateKey(rc.rank, rc.heads, rc.q);
      lastCompute.set(key, t);
      if (!firstCompute.has(key)) firstCompute.set(key, t);
      const row = computeHeadsAt[t];
      if (row) row[rc.rank] = rc.heads;
    }
  });
  const nextComputeHeads = (rank: number, after: number): HeadRange | undefined => {
    for (let t = after + 1; t < fwd.length; t++) {
      const h = computeHeadsAt[t]?.[rank];
      if (h) return h;
    }
    return undefined;
  };
  const lastComputeHeads = (rank: number, upTo: number): HeadRange | undefined => {
    for (let t = upTo; t >= 0; t--) {
      const h = computeHeadsAt[t]?.[rank];
      if (h) return h;
    }
    return undefined;
  };

  // The first step after the last attention compute that moves X: its X is the attention output.
  let lastComputeStep = -1;
  fwd.forEach((step, t) => {
    if (step.compute.length) lastComputeStep = t;
  });
  const xOutputStep = fwd.findIndex((step, t) => t > lastComputeStep && step.collectives.some((c) => c.transfers.some((tr) => tr.tensor === 'X')));

  fwd.forEach((sstep, t) => {
    const step: PlanStep = { index: t, caption: sstep.caption, assemble: [], compute: [], finalise: [], transfers: [], collectives: sstep.collectives.map((c) => c.label) };
    planner.steps.push(step);

    for (const rc of sstep.compute) {
      if (tokenCount(rc.q) === 0 || tokenCount(rc.kv) === 0) continue;
      computeOp(planner, step, rc, kvOf(rc.heads), firstCompute, lastCompute);
    }
    // Finalise every state whose last block was this step.
    for (const [key, st] of planner.states) {
      if (st.finalised || st.lastCompute !== t) continue;
      st.finalised = true;
      const rank = st.m.rank;
      const base = { rank, positions: st.m.positions, heads: st.heads, allocStep: t, readyStep: t } as const;
      const o = planner.add({ ...base, tensor: 'O', role: 'output', label: `AttentionRunner.o[${rank}]`, width: D });
      const lse = planner.add({ ...base, tensor: 'lse', role: 'output', label: `AttentionRunner.lse[${rank}]`, width: 1 });
      for (const p of [st.m, st.l, st.acc]) Planner.touch(p, t);
      lse.lastUse = Infinity; // kept for the backward pass
      st.o = o;
      st.lse = lse;
      step.finalise.push({ rank, m: st.m.id, l: st.l.id, acc: st.acc.id, o: o.id, lse: lse.id });
      void key;
    }

    // Collectives: copies into landing buffers, usable from step t + 1.
    sstep.collectives.forEach((collective, ci) => {
      const deliveries: Delivery[] = [];
      for (const tr of collective.transfers) {
        const positions = planner.positions(tr.tokens);
        if (positions.length === 0) continue;
        switch (tr.tensor) {
          case 'Q':
          case 'K':
          case 'V':
          case 'O':
            deliveries.push({ transfer: tr, tensor: tr.tensor, heads: tr.heads, positions });
            break;
          case 'X': {
            const dstHeads = nextComputeHeads(tr.dst, t);
            if (dstHeads) {
              // All-gather of X before the column-parallel QKV: the destination's Q/K/V rows (see header).
              deliveries.push({ transfer: tr, tensor: 'Q', heads: dstHeads, positions });
              deliveries.push({ transfer: tr, tensor: 'K', heads: kvOf(dstHeads), positions });
              deliveries.push({ transfer: tr, tensor: 'V', heads: kvOf(dstHeads), positions });
            } else if (t === xOutputStep) {
              // The reduce-scatter after the attention output projection: O rows (see header).
              const srcHeads = lastComputeHeads(tr.src, t);
              if (srcHeads) deliveries.push({ transfer: tr, tensor: 'O', heads: srcHeads, positions });
            }
            // Later X collectives (around the MLP) carry no attention data: not executed.
            break;
          }
          default:
            break; // gradients and the loss belong to other phases
        }
      }
      land(planner, step.transfers, t, ci, collective.label, deliveries);
    });
  });

  const unfinished = [...planner.states.values()].filter((s) => !s.finalised);
  if (unfinished.length) throw new Error(`internal: ${unfinished.length} attention states were never finalised`);

  // Final outputs: O buffers no collective sends on (those are the ones the ranks keep).
  const oPieces = planner.pieces.filter((p) => p.tensor === 'O');
  let outputs = oPieces.filter((p) => !planner.sourced(p.id));
  const coverage = (list: Piece[]): number => {
    const seen = new Uint8Array(H * schedule.seq);
    let n = 0;
    for (const p of list)
      for (let h = p.heads.start; h < p.heads.end; h++)
        for (const g of p.positions) {
          const i = h * schedule.seq + g;
          if (g >= 0 && g < schedule.seq && !seen[i]) {
            seen[i] = 1;
            n++;
          }
        }
    return n;
  };
  if (coverage(outputs) < H * schedule.seq) outputs = oPieces;
  const covered = coverage(outputs);
  if (covered < H * schedule.seq) {
    throw new Error(`${schedule.strategy}: the forward steps compute only ${covered} of ${H * schedule.seq} (head, token) outputs; the schedule leaves some queries without attention.`);
  }
  for (const p of outputs) p.lastUse = Infinity;

  const trace = traceTarget(planner, schedule);
  let backward: BackwardPlan | null = null;
  let backwardError: string | null = null;
  try {
    backward = planBackward(planner, schedule);
  } catch (error) {
    backwardError = error instanceof Error ? error.message : String(error);
  }

  return {
    strategy: schedule.strategy,
    ranks: schedule.ranks,
    seq: schedule.seq,
    heads: H,
    kvHeads: KVH,
    headDim: D,
    pieces: planner.pieces,
    steps: planner.steps,
    outputs: outputs.map((p) => p.id),
    trace,
    backward,
    backwardError,
  };
}

// ---------------------------------------------------------------------------------------------
// Backward
//
// Rules, in addition to the forward's:
// - Before the first backward step every rank holds its shard of dO (all heads): the gradient that
//   comes back from the output projection, sequence-sharded like the attention input.
// - A backward compute reads Q, K, V and dO held at that step (newest first, assembled like the
//   forward's operands: what the rank saved in the forward pass or what a backward collective
//   delivered) and the O and lse its forward state produced. At a state's first backward compute a
//   preprocessing dispatch forms D = rowsum(dO ∘ O). The dispatch accumulates the state's dQ and
//   writes fresh dK, dV partials of its K/V block (FlashAttention-2 keeps per-block dK, dV too).
// - A gradient (dQ, dK, dV) transfer in step t sends the source's whole partial sum of those entries:
//   everything it computed up to and including step t (a rank sends a block's dK, dV after computing
//   them, as ring-flash-attention's backward does) plus what it received before step t. When it holds
//   several partial sums of an entry it adds them first (a reduce op), then copies the sum into a
//   landing buffer on the destination; the sent entries leave the source. So copy or reduction is not
//   decided by the collective's name but by what the ranks hold: a reduce-scatter's landing buffers are
//   summed by their owner, a ring's partial sums grow by one rank per hop.
// - After the last backward step each rank sums the partial sums it holds of its own shard's tokens
//   (all heads) into its final dQ, dK, dV. Entries nobody delivered (missing) and partial sums left
//   elsewhere (stranded) are counted: both are 0 when the schedule moves gradients correctly.
// - Megatron SP: the last X all-gather before the attention backward (of the attention output's
//   gradient) delivers the dO rows of the destination's heads; the first X reduce-scatter after it (of
//   the QKV input gradient) moves the source's dQ, dK, dV rows, as the forward treats its X
//   collectives. Other X collectives (the MLP's, the re-gathers of X for weight gradients) carry no
//   attention data.

const GRADIENTS: readonly GradientTensor[] = ['dQ', 'dK', 'dV'];

function planBackward(planner: Planner, schedule: ValidSchedule): BackwardPlan | null {
  const bwd = schedule.steps.filter((s) => s.phase === 'backward');
  if (bwd.length === 0) return null;
  const { heads: H, kvHeads: KVH, headDim: D } = planner.dims;
  const all: HeadRange = { start: 0, end: H };
  const allKv: HeadRange = { start: 0, end: KVH };
  const kvOf = (h: HeadRange): HeadRange => kvHeadRange(h, H, KVH);
  const first = (bwd[0] as (typeof bwd)[number]).index;

  for (const shard of schedule.shards) {
    const positions = planner.positions(shard.tokens);
    const r = shard.rank;
    planner.add({ rank: r, tensor: 'dO', role: 'shard', label: `AttentionRunner.dOShard[${r}]`, positions, heads: all, width: D, allocStep: first, readyStep: first });
  }

  // Megatron SP's X collectives (see above), and each rank's compute heads.
  const computing = bwd.filter((s) => s.compute.length > 0);
  const firstCompute = computing[0]?.index ?? Infinity;
  const lastCompute = computing[computing.length - 1]?.index ?? -Infinity;
  const movesX = (s: (typeof bwd)[number], kind: 'all-gather' | 'reduce-scatter'): boolean => s.collectives.some((c) => c.kind === kind && c.transfers.some((tr) => tr.tensor === 'X'));
  const xIn = [...bwd].reverse().find((s) => s.index < firstCompute && movesX(s, 'all-gather'))?.index;
  const xOut = bwd.find((s) => s.index > lastCompute && movesX(s, 'reduce-scatter'))?.index;
  const headsOf = new Map<number, HeadRange>();
  for (const s of computing) for (const rc of s.compute) if (!headsOf.has(rc.rank)) headsOf.set(rc.rank, rc.heads);

  interface BackwardState { readonly stats: Piece; readonly dq: Piece }
  const states = new Map<string, BackwardState>();
  const steps: BackwardStep[] = [];

  for (const sstep of bwd) {
    const t = sstep.index;
    const step: BackwardStep = { index: t, caption: sstep.caption, assemble: [], preprocess: [], compute: [], reduce: [], transfers: [], collectives: sstep.collectives.map((c) => c.label) };
    steps.push(step);
    for (const rc of sstep.compute) {
      if (tokenCount(rc.q) === 0 || tokenCount(rc.kv) === 0) continue;
      const qPos = planner.positions(rc.q);
      const kvPos = planner.positions(rc.kv);
      const kvHeads = kvOf(rc.heads);
      const q = planner.operand(step, rc.rank, 'Q', qPos, rc.heads);
      const k = planner.operand(step, rc.rank, 'K', kvPos, kvHeads);
      const v = planner.operand(step, rc.rank, 'V', kvPos, kvHeads);
      const dO = planner.operand(step, rc.rank, 'dO', qPos, rc.heads);
      const key = stateKey(rc.rank, rc.heads, rc.q);
      const fwd = planner.states.get(key);
      if (!fwd?.o || !fwd.lse) {
        throw new Error(`${schedule.strategy}: step ${t}: rank ${rc.rank} computes the backward of ${rangeText(rc.heads)} for tokens ${qPos[0]}… but its forward pass computed no output (O, lse) for exactly those queries.`);
      }
      let st = states.get(key);
      const init = !st;
      if (!st) {
        const base = { rank: rc.rank, positions: qPos, heads: rc.heads, allocStep: t, readyStep: t } as const;
        st = {
          stats: planner.add({ ...base, tensor: 'stats', role: 'state', label: `AttentionRunner.stats[${rc.rank}]`, width: 2 }),
          dq: planner.addGradient({ ...base, tensor: 'dQ', role: 'state', label: `AttentionRunner.dq[${rc.rank}]`, width: D }),
        };
        states.set(key, st);
        step.preprocess.push({ rank: rc.rank, dO: dO.id, o: fwd.o.id, lse: fwd.lse.id, stats: st.stats.id, tq: qPos.length, computeHeads: headCount(rc.heads), dOHeadOffset: rc.heads.start - dO.heads.start });
        Planner.touch(fwd.o, t);
        Planner.touch(fwd.lse, t);
      }
      for (const p of [st.stats, st.dq]) Planner.touch(p, t);
      const part = { rank: rc.rank, role: 'partial', positions: kvPos, heads: kvHeads, width: D, allocStep: t, readyStep: t } as const;
      const dk = planner.addGradient({ ...part, tensor: 'dK', label: `AttentionRunner.dkPartial[${rc.rank}]` });
      const dv = planner.addGradient({ ...part, tensor: 'dV', label: `AttentionRunner.dvPartial[${rc.rank}]` });
      step.compute.push({
        rank: rc.rank,
        q: q.id,
        k: k.id,
        v: v.id,
        dO: dO.id,
        stats: st.stats.id,
        dq: st.dq.id,
        dk: dk.id,
        dv: dv.id,
        heads: rc.heads,
        qHeadBase: q.heads.start,
        kvHeadBase: k.heads.start,
        dOHeadBase: dO.heads.start,
        kvOut: kvHeads,
        qTokens: q.tokens,
        kvTokens: k.tokens,
        tq: qPos.length,
        tkv: kvPos.length,
        init,
      });
    }

    sstep.collectives.forEach((collective, ci) => {
      const deliveries: Delivery[] = [];
      const sends: { src: number; dst: number; tensor: GradientTensor; positions: Int32Array; heads: HeadRange }[] = [];
      for (const tr of collective.transfers) {
        const positions = planner.positions(tr.tokens);
        if (positions.length === 0) continue;
        switch (tr.tensor) {
          case 'Q':
          case 'K':
          case 'V':
          case 'O':
          case 'dO':
            deliveries.push({ transfer: tr, tensor: tr.tensor, heads: tr.heads, positions });
            break;
          case 'dQ':
          case 'dK':
          case 'dV':
            sends.push({ src: tr.src, dst: tr.dst, tensor: tr.tensor, positions, heads: tr.heads });
            break;
          case 'X': {
            if (t === xIn && collective.kind === 'all-gather') {
              const h = headsOf.get(tr.dst);
              if (h) deliveries.push({ transfer: tr, tensor: 'dO', heads: h, positions });
            } else if (t === xOut && collective.kind === 'reduce-scatter') {
              const h = headsOf.get(tr.src);
              if (h) for (const tensor of GRADIENTS) sends.push({ src: tr.src, dst: tr.dst, tensor, positions, heads: tensor === 'dQ' ? h : kvOf(h) });
            }
            break;
          }
          default:
            break;
        }
      }
      land(planner, step.transfers, t, ci, collective.label, deliveries);
      for (const send of sends) {
        const landing = planner.addGradient({
          rank: send.dst,
          tensor: send.tensor,
          role: 'received',
          label: `AttentionRunner.${send.tensor.toLowerCase()}Recv${ci > 0 ? ci : ''}[${send.dst}]`,
          positions: send.positions,
          heads: send.heads,
          width: D,
          allocStep: t,
          readyStep: t + 1,
        });
        moveGradient(planner, schedule, step.reduce, step.transfers, send.src, send.tensor, send.positions, send.heads, t, landing, 'copy', `send it in "${collective.label}"`);
      }
    });
  }

  // Final gradients: each rank sums what it holds of its own shard.
  const gatherIndex = schedule.steps.length;
  const gather = { index: gatherIndex, copies: [] as CopyOp[], adds: [] as CopyOp[] };
  const gradients = { dq: [] as number[], dk: [] as number[], dv: [] as number[] };
  let missing = 0;
  for (const shard of schedule.shards) {
    const positions = planner.positions(shard.tokens);
    if (positions.length === 0) continue;
    for (const tensor of GRADIENTS) {
      const heads = tensor === 'dQ' ? all : allKv;
      const final = planner.add({ rank: shard.rank, tensor, role: 'gradient', label: `AttentionRunner.${tensor.toLowerCase()}Final[${shard.rank}]`, positions, heads, width: D, allocStep: gatherIndex, readyStep: gatherIndex });
      final.lastUse = Infinity;
      (tensor === 'dQ' ? gradients.dq : tensor === 'dK' ? gradients.dk : gradients.dv).push(final.id);
      missing += moveGradient(planner, schedule, gather.adds, gather.copies, shard.rank, tensor, positions, heads, gatherIndex, final, 'sum', '');
    }
  }
  let stranded = 0;
  stranded += planner.unsentTotal();
  return { steps, gather, gradients, missing, stranded };
}

/**
 * Moves rank `src`'s partial sums of (tensor, positions, heads) into `dst` (offset 0, dst's layout).
 * 'copy' (a send): when the rank holds several partial sums of an entry they are first added into the
 * oldest (reduce ops), which is then copied; an entry the rank never computed is a zero partial sum. 'sum' (the final
 * gather): the first partial sum is copied, the others added, into dst; returns the entries found in
 * no partial sum. Either way the moved entries leave the source.
 */
function moveGradient(planner: Planner, schedule: ValidSchedule, adds: CopyOp[], copies: CopyOp[], src: number, tensor: GradientTensor, positions: Int32Array, heads: HeadRange, t: number, dst: Piece, mode: 'copy' | 'sum', why: string): number {
  const w = planner.dims.headDim;
  // The partial sums that can hold any of these entries: those holding one of the positions (a piece
  // holding none of them would contribute nothing), in creation order.
  const firstAt = Array.from(positions, (g) => planner.firstHolder(src, tensor, g));
  const heldSet = new Set<Piece>();
  for (const first of firstAt) {
    for (let e = first; e >= 0; e = planner.nextHolder(e)) {
      const p = planner.holderPiece(e);
      if (p.id !== dst.id && p.readyStep <= t && planner.isGradient(p)) heldSet.add(p);
    }
  }
  const held = [...heldSet].sort((a, b) => a.id - b.id);
  /** Buffer index of positions[i] in p, or −1 (p's few holder entries, not a per-piece Map). */
  const indexIn = (p: Piece, i: number): number => {
    for (let e = firstAt[i] as number; e >= 0; e = planner.nextHolder(e)) if (planner.holderPiece(e) === p) return planner.holderIndex(e);
    return -1;
  };
  // The latest op of each (list, src, dst): a run continues it even when other pairs' ops came in between.
  const latest = new Map<number, number>();
  const pairs = planner.pieces.length; // no piece is added during this call
  const push = (list: CopyOp[], a: Piece, aIndex: number, b: Piece, bIndex: number, h: number): void => {
    const srcOffset = ((h - a.heads.start) * a.positions.length + aIndex) * w;
    const dstOffset = ((h - b.heads.start) * b.positions.length + bIndex) * w;
    const key = (a.id * 2 + (list === adds ? 1 : 0)) * pairs + b.id;
    const at = latest.get(key);
    const last = at === undefined ? undefined : list[at];
    if (at !== undefined && last && last.srcOffset + last.count === srcOffset && last.dstOffset + last.count === dstOffset)
      (last as { count: number }).count += w;
    else {
      latest.set(key, list.length);
      list.push({ src: a.id, srcOffset, dst: b.id, dstOffset, count: w });
    }
    Planner.touch(a, t);
    Planner.touch(b, t);
  };
  let missing = 0;
  const n = positions.length;
  const primary: (Piece | undefined)[] = new Array(n);
  const primaryIndex: number[] = new Array(n).fill(0);
  for (let h = heads.start; h < heads.end; h++) {
    const cands = held.filter((p) => p.heads.start <= h && p.heads.end > h);
    primary.fill(undefined);
    const dstIndex = (i: number): number => (mode === 'copy' ? i : planner.indexOf(dst, positions[i] as number));
    // Piece by piece (runs stay contiguous): the first holder of an entry is its primary, later ones add to it.
    for (const p of cands) {
      const { flags, at } = planner.unsentFlags(p);
      for (let i = 0; i < n; i++) {
        const index = indexIn(p, i);
        if (index < 0) continue;
        const f = at + (h - p.heads.start) * p.positions.length + index;
        if (!flags[f]) continue;
        flags[f] = 0;
        const first = primary[i];
        if (!first) {
          primary[i] = p;
          primaryIndex[i] = index;
          if (mode === 'sum') push(copies, p, index, dst, dstIndex(i), h);
        } else if (mode === 'sum') push(adds, p, index, dst, dstIndex(i), h);
        else push(adds, p, index, first, primaryIndex[i] as number, h);
      }
    }
    for (let i = 0; i < n; i++) {
      const first = primary[i];
      if (!first) {
        if (mode === 'sum') {
          missing++;
          continue;
        }
        // A send of an entry this rank never computed: its partial sum is zero. That happens when a
        // block meets only masked or empty query chunks here (zigzag with fewer tokens than 2P chunks,
        // e.g. 13 tokens on 8 ranks in Transformer Engine's reversed ring). The landing buffer is new, so
        // zero-filled (WebGPU zero-initialises buffers; the CPU executor's arrays start at zero).
        continue;
      }
      if (mode === 'copy') push(copies, first, primaryIndex[i] as number, dst, i, h);
    }
  }
  return missing;
}

interface Delivery {
  readonly transfer: Transfer;
  readonly tensor: 'Q' | 'K' | 'V' | 'O' | 'dO';
  readonly heads: HeadRange;
  readonly positions: Int32Array;
}

/**
 * Copies of one collective's deliveries into landing buffers on their destinations, usable from
 * step t + 1. Deliveries to one rank and tensor share one landing buffer when they have the same heads
 * (tokens concatenated in transfer order) or the same tokens (heads side by side).
 */
function land(planner: Planner, out: CopyOp[], t: number, ci: number, collectiveLabel: string, deliveries: readonly Delivery[]): void {
  const D = planner.dims.headDim;
  const groups = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const key = `${d.transfer.dst}|${d.tensor}`;
    const g = groups.get(key);
    if (g) g.push(d);
    else groups.set(key, [d]);
  }
  for (const group of groups.values()) {
    const first = group[0] as Delivery;
    const dst = first.transfer.dst;
    const width = D;
    const sameHeads = group.every((d) => d.heads.start === first.heads.start && d.heads.end === first.heads.end);
    const sameTokens = group.every((d) => samePositions(d.positions, first.positions));
    const label = (tensor: string): string => `AttentionRunner.${tensor.toLowerCase()}Recv${ci > 0 ? ci : ''}[${dst}]`;
    const landing = (positions: Int32Array, heads: HeadRange, tensor: Delivery['tensor']): Piece =>
      planner.add({ rank: dst, tensor, role: 'received', label: label(tensor), positions, heads, width, allocStep: t, readyStep: t + 1 });
    const why = `send it in "${collectiveLabel}"`;
    if (sameHeads) {
      let positions = first.positions; // one delivery: share its (never modified) positions
      if (group.length > 1) {
        positions = new Int32Array(group.reduce((n, d) => n + d.positions.length, 0));
        let at = 0;
        for (const d of group) {
          positions.set(d.positions, at);
          at += d.positions.length;
        }
      }
      const piece = landing(positions, first.heads, first.tensor);
      let at = 0;
      for (const d of group) {
        planner.fill(out, d.transfer.src, d.tensor, d.positions, d.heads, t, piece, at, why);
        at += d.positions.length;
      }
      continue;
    }
    const sorted = [...group].sort((a, b) => a.heads.start - b.heads.start);
    const contiguous = sorted.every((d, i) => i === 0 || d.heads.start === (sorted[i - 1] as Delivery).heads.end);
    if (sameTokens && contiguous) {
      const heads = { start: (sorted[0] as Delivery).heads.start, end: (sorted[sorted.length - 1] as Delivery).heads.end };
      const piece = landing(first.positions, heads, first.tensor);
      for (const d of sorted) planner.fill(out, d.transfer.src, d.tensor, d.positions, d.heads, t, piece, 0, why);
      continue;
    }
    for (const d of group) {
      const piece = landing(d.positions, d.heads, d.tensor);
      planner.fill(out, d.transfer.src, d.tensor, d.positions, d.heads, t, piece, 0, why);
    }
  }
}

function computeOp(planner: Planner, step: PlanStep, rc: RankCompute, kvHeads: HeadRange, firstCompute: Map<string, number>, lastCompute: Map<string, number>): void {
  const { headDim: D } = planner.dims;
  const qPos = planner.positions(rc.q);
  const kvPos = planner.positions(rc.kv);
  const q = planner.operand(step, rc.rank, 'Q', qPos, rc.heads);
  const k = planner.operand(step, rc.rank, 'K', kvPos, kvHeads);
  const v = planner.operand(step, rc.rank, 'V', kvPos, kvHeads);
  const key = stateKey(rc.rank, rc.heads, rc.q);
  let st = planner.states.get(key);
  const init = !st;
  if (!st) {
    const base = { rank: rc.rank, role: 'state', positions: qPos, heads: rc.heads, allocStep: step.index, readyStep: step.index } as const;
    st = {
      m: planner.add({ ...base, tensor: 'm', label: `AttentionRunner.m[${rc.rank}]`, width: 1 }),
      l: planner.add({ ...base, tensor: 'l', label: `AttentionRunner.l[${rc.rank}]`, width: 1 }),
      acc: planner.add({ ...base, tensor: 'acc', label: `AttentionRunner.acc[${rc.rank}]`, width: D }),
      heads: rc.heads,
      firstCompute: firstCompute.get(key) ?? step.index,
      lastCompute: lastCompute.get(key) ?? step.index,
      finalised: false,
    };
    planner.states.set(key, st);
  }
  for (const p of [st.m, st.l, st.acc]) Planner.touch(p, step.index);
  step.compute.push({
    rank: rc.rank,
    q: q.id,
    k: k.id,
    v: v.id,
    m: st.m.id,
    l: st.l.id,
    acc: st.acc.id,
    heads: rc.heads,
    qHeadBase: q.heads.start,
    kvHeadBase: k.heads.start,
    qTokens: q.tokens,
    kvTokens: k.tokens,
    tq: qPos.length,
    tkv: kvPos.length,
    init,
  });
  if (k.heads.start !== v.heads.start) throw new Error(`internal: K and V operands of rank ${rc.rank} disagree on heads`);
}

/** The query row whose softmax merge the scene shows: the last token of the last rank. */
function traceTarget(planner: Planner, schedule: ValidSchedule): TraceTarget | null {
  const rank = schedule.ranks - 1;
  const shard = schedule.shards.find((s) => s.rank === rank);
  const shardPos = shard ? positionsOf(shard.tokens) : new Int32Array(0);
  const token = shardPos.length ? (shardPos[shardPos.length - 1] as number) : -1;
  const states = [...planner.states.values()].filter((s) => s.m.rank === rank);
  const st = states.find((s) => s.m.positions.includes(token)) ?? states[0];
  if (!st) return null;
  let row = st.m.positions.indexOf(token);
  if (row < 0) row = st.m.positions.length - 1;
  return {
    rank,
    token: st.m.positions[row] as number,
    head: st.heads.start,
    m: st.m.id,
    l: st.l.id,
    acc: st.acc.id,
    rowIndex: row,
    firstStep: st.firstCompute,
    lastStep: st.lastCompute,
  };
}

/** A gradient buffer a rank holds at the end of a backward step, with its L2 norm (for the scene). */
export interface GradientNorm {
  readonly rank: number;
  readonly tensor: GradientTensor;
  readonly role: PieceRole;
  readonly label: string;
  readonly tokens: TokenSet;
  readonly heads: HeadRange;
  /** √Σ x² over the buffer, after the step's compute, reductions and transfers. */
  readonly norm: number;
}

export interface GradientStepNorms {
  /** Schedule step index (schedule.steps.length for the final gather). */
  readonly step: number;
  readonly pieces: readonly GradientNorm[];
}

/** The gradient pieces (dQ/dK/dV) a rank holds at the end of backward step `index` (before anything is freed). */
export function gradientPiecesAt(plan: ExecPlan, index: number): Piece[] {
  return plan.pieces.filter((p) => (p.tensor === 'dQ' || p.tensor === 'dK' || p.tensor === 'dV') && p.allocStep <= index && p.lastUse >= index && p.elements > 0);
}

/** Per backward step (and the final gather), the pieces whose norms the executors record. */
export function gradientSnapshots(plan: ExecPlan): { step: number; pieces: Piece[] }[] {
  const b = plan.backward;
  if (!b) return [];
  return [...b.steps.map((s) => s.index), b.gather.index].map((step) => ({ step, pieces: gradientPiecesAt(plan, step) }));
}

/** L2 norm of a Float32Array in float64. */
export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (a[i] as number);
  return Math.sqrt(s);
}

export function gradientNorm(p: Piece, norm: number): GradientNorm {
  return { rank: p.rank, tensor: p.tensor as GradientTensor, role: p.role, label: p.label, tokens: p.tokens, heads: p.heads, norm };
}

/** Total elements copied by the plan's collectives (at the executed size, f32). */
export function transferredElements(plan: ExecPlan): number {
  let n = 0;
  for (const s of plan.steps) for (const c of s.transfers) n += c.count;
  return n;
}

export type { Transfer };
