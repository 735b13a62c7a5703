// A Schedule as flat numbers, so a worker can hand it to the page by transfer instead of by
// structured clone. At 64 ranks a schedule is ~50,000 small objects (1–3 MB serialised), and
// cloning it back cost the page 15–40 ms; its encoding moves in one transferred buffer, and the page
// decodes each step's collectives and compute only when something reads them (the scene reads the
// step it shows). Decoded steps are plain Schedule objects: the same shapes every consumer reads,
// with token sets shared by identity as the builders share them.
//
// Layout of `EncodedSchedule.numbers`: Int32 slots, but byte counts and pair counts (which exceed
// 2³¹) are Float64s over two slots ("wide"). All-Float64 made a 64-rank schedule 3 MB per change,
// and the page's garbage collector is paced by such buffers:
//   token set t at tokenSetAt[t]: nSegments, then (start, count, stride) per segment;
//   step s at stepAt[s]: nCollectives, per collective: kind, label, overlapsCompute (0, 1, or 2 =
//     unset), group size, the group's ranks, the tensor kinds moved (bits of TENSORS), nTransfers,
//     per transfer (TRANSFER_SLOTS): src, dst, tensor, tokens (a token set), heads start, heads
//     end, bytes (wide), dtype (−1 = unset);
//   then nCompute, per rank compute: rank, q, kv (token sets), heads start, heads end, nTiles, the
//     tiles' length in slots, per tile: q segment, kv segment (index into q / kv, or −1 followed by
//     start, count, stride), mask, pairs (wide).

import { DTYPES, type Dtype } from './params.ts';
import type { Collective, CollectiveKind, ComputeTile, HeadRange, MaskKind, RankCompute, Schedule, Segment, Step, TensorKind, TokenSet, Transfer, ValidSchedule } from './schedule.ts';

const KINDS: readonly CollectiveKind[] = ['all-gather', 'reduce-scatter', 'all-to-all', 'send-recv', 'all-reduce'];
const TENSORS: readonly TensorKind[] = ['X', 'Q', 'K', 'V', 'O', 'dO', 'dQ', 'dK', 'dV', 'loss'];
const MASKS: readonly MaskKind[] = ['full', 'causal', 'skipped'];

/** A step without its collectives and compute (those are in the numbers). */
type StepShell = Omit<Step, 'collectives' | 'compute'>;

export interface EncodedSchedule {
  /** Everything but the steps' collectives and compute, as plain data (small: shards, loss labels, captions). */
  readonly head: Omit<ValidSchedule, 'steps'> & { readonly steps: readonly StepShell[] };
  /** Collective labels, by index. */
  readonly labels: readonly string[];
  readonly numbers: Int32Array;
  readonly tokenSetAt: Uint32Array;
  readonly stepAt: Uint32Array;
}

export type ScheduleTransport = { readonly valid: false; readonly schedule: Schedule } | { readonly valid: true; readonly encoded: EncodedSchedule };

/** Slots per transfer: src, dst, tensor, tokens, heads start, heads end, bytes (2), dtype. */
const TRANSFER_SLOTS = 9;

class Writer {
  buffer = new Int32Array(1 << 16);
  #view = new DataView(this.buffer.buffer);
  length = 0;
  #room(slots: number): void {
    if (this.length + slots <= this.buffer.length) return;
    const grown = new Int32Array(this.buffer.length * 2);
    grown.set(this.buffer);
    this.buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
  push(x: number): void {
    if ((x | 0) !== x) throw new Error(`schedule codec: ${x} is not a 32-bit integer`);
    this.#room(1);
    this.buffer[this.length++] = x;
  }
  /** A Float64 over two slots. */
  pushWide(x: number): void {
    this.#room(2);
    this.#view.setFloat64(4 * this.length, x, true);
    this.length += 2;
  }
}

export function encodeSchedule(schedule: Schedule): ScheduleTransport {
  if (!schedule.valid) return { valid: false, schedule };
  const w = new Writer();
  const sets = new Map<TokenSet, number>();
  const setAt: number[] = [];
  const labels = new Map<string, number>();
  const tokenSet = (set: TokenSet): number => {
    let id = sets.get(set);
    if (id === undefined) {
      id = setAt.length;
      sets.set(set, id);
      setAt.push(-1); // written after the steps, into their own region
    }
    return id;
  };
  const label = (text: string): number => {
    let id = labels.get(text);
    if (id === undefined) labels.set(text, (id = labels.size));
    return id;
  };
  const segment = (set: TokenSet, seg: Segment): void => {
    const i = set.indexOf(seg);
    w.push(i);
    if (i < 0) {
      w.push(seg.start);
      w.push(seg.count);
      w.push(seg.stride);
    }
  };
  const stepAt = new Uint32Array(schedule.steps.length);
  schedule.steps.forEach((step, s) => {
    stepAt[s] = w.length;
    w.push(step.collectives.length);
    for (const c of step.collectives) {
      w.push(KINDS.indexOf(c.kind));
      w.push(label(c.label));
      w.push(c.overlapsCompute === undefined ? 2 : c.overlapsCompute ? 1 : 0);
      w.push(c.group.length);
      for (const r of c.group) w.push(r);
      // The tensor kinds it moves, as bits of TENSORS: the scene asks once per collective, and
      // reading it here (in the planner worker) spares a walk of 8,064 transfers at 64 ranks.
      w.push(c.transfers.reduce((mask, t) => mask | (1 << TENSORS.indexOf(t.tensor)), 0));
      w.push(c.transfers.length);
      for (const t of c.transfers) {
        w.push(t.src);
        w.push(t.dst);
        w.push(TENSORS.indexOf(t.tensor));
        w.push(tokenSet(t.tokens));
        w.push(t.heads.start);
        w.push(t.heads.end);
        w.pushWide(t.bytes);
        w.push(t.dtype === undefined ? -1 : DTYPES.indexOf(t.dtype));
      }
    }
    w.push(step.compute.length);
    for (const rc of step.compute) {
      w.push(rc.rank);
      w.push(tokenSet(rc.q));
      w.push(tokenSet(rc.kv));
      w.push(rc.heads.start);
      w.push(rc.heads.end);
      w.push(rc.tiles.length);
      const lengthAt = w.length;
      w.push(0);
      for (const tile of rc.tiles) {
        segment(rc.q, tile.q);
        segment(rc.kv, tile.kv);
        w.push(MASKS.indexOf(tile.mask));
        w.pushWide(tile.pairs);
      }
      w.buffer[lengthAt] = w.length - lengthAt - 1;
    }
  });
  const tokenSetAt = new Uint32Array(setAt.length);
  for (const [set, id] of sets) {
    tokenSetAt[id] = w.length;
    w.push(set.length);
    for (const seg of set) {
      w.push(seg.start);
      w.push(seg.count);
      w.push(seg.stride);
    }
  }
  const { steps, ...rest } = schedule;
  const shells = steps.map(({ collectives: _c, compute: _r, ...shell }) => shell);
  return { valid: true, encoded: { head: { ...rest, steps: shells }, labels: [...labels.keys()], numbers: w.buffer.slice(0, w.length), tokenSetAt, stepAt } };
}

/** `count` numbers of `from` starting at `at`, as a plain array (a loop: Array.from on a typed array is ~10× slower in Chromium). */
export function numbersAt(from: Float64Array | Int32Array, at: number, count: number): number[] {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = from[at + i] as number;
  return out;
}

/** The buffers `transport` can hand over by transfer (postMessage's second argument). */
export function transferablesOf(transport: ScheduleTransport): ArrayBuffer[] {
  if (!transport.valid) return [];
  const e = transport.encoded;
  return [e.numbers.buffer as ArrayBuffer, e.tokenSetAt.buffer as ArrayBuffer, e.stepAt.buffer as ArrayBuffer];
}

/** The schedule back, its steps' collectives and compute decoded on first read. */
export function decodeSchedule(transport: ScheduleTransport): Schedule {
  if (!transport.valid) return transport.schedule;
  const { head, labels, numbers: n, tokenSetAt, stepAt } = transport.encoded;
  const view = new DataView(n.buffer, n.byteOffset, n.byteLength);
  const wideAt = (p: number): number => view.getFloat64(4 * p, true);
  const sets: (TokenSet | undefined)[] = new Array(tokenSetAt.length);
  const setOf = (id: number): TokenSet => {
    let set = sets[id];
    if (!set) {
      let p = tokenSetAt[id] as number;
      const segs: Segment[] = new Array(n[p++] as number);
      for (let i = 0; i < segs.length; i++, p += 3) segs[i] = { start: n[p] as number, count: n[p + 1] as number, stride: n[p + 2] as number };
      sets[id] = set = segs;
    }
    return set;
  };
  // Head ranges repeat across transfers, ranks and steps: one object per distinct range.
  const headRanges = new Map<number, HeadRange>();
  const headsOf = (start: number, end: number): HeadRange => {
    const key = start * 0x100000 + end;
    let h = headRanges.get(key);
    if (!h) headRanges.set(key, (h = { start, end }));
    return h;
  };
  const decodeTransfer = (p: number): Transfer => {
    const dtype = n[p + 8] as number;
    const transfer = { src: n[p] as number, dst: n[p + 1] as number, tensor: TENSORS[n[p + 2] as number] as TensorKind, tokens: setOf(n[p + 3] as number), heads: headsOf(n[p + 4] as number, n[p + 5] as number), bytes: wideAt(p + 6) };
    return dtype < 0 ? transfer : { ...transfer, dtype: DTYPES[dtype] as Dtype };
  };
  const decodeTransfers = (p: number, count: number): Transfer[] => {
    const transfers: Transfer[] = new Array(count);
    for (let t = 0; t < count; t++, p += TRANSFER_SLOTS) transfers[t] = decodeTransfer(p);
    return transfers;
  };
  const visitTransfers = (p: number, count: number, visit: (t: TransferCursor) => void): void => {
    const cursor: TransferCursor = { src: 0, dst: 0, tensor: 'X', tokens: [], index: 0 };
    for (let t = 0; t < count; t++, p += TRANSFER_SLOTS) {
      cursor.src = n[p] as number;
      cursor.dst = n[p + 1] as number;
      cursor.tensor = TENSORS[n[p + 2] as number] as TensorKind;
      cursor.tokens = setOf(n[p + 3] as number);
      cursor.index = t;
      visit(cursor);
    }
  };
  const decodeGroup = (at: number): number[] => numbersAt(n, at + 1, n[at] as number);
  /** The step's collectives (their group and transfers decoded on first read) and where its compute starts. */
  const decodeCollectives = (s: number): { collectives: Collective[]; computeAt: number } => {
    let p = stepAt[s] as number;
    const collectives: Collective[] = new Array(n[p++] as number);
    for (let c = 0; c < collectives.length; c++) {
      const kind = KINDS[n[p++] as number] as CollectiveKind;
      const text = labels[n[p++] as number] as string;
      const overlaps = n[p++] as number;
      const groupAt = p;
      p += 1 + (n[p] as number);
      const tensorMask = n[p++] as number;
      const count = n[p++] as number;
      collectives[c] = new LazyCollective(kind, text, overlaps === 2 ? undefined : overlaps === 1, decoder, groupAt, p, count, tensorMask);
      p += TRANSFER_SLOTS * count;
    }
    return { collectives, computeAt: p };
  };
  const decodeTiles = (q: TokenSet, kv: TokenSet, at: number, count: number): ComputeTile[] => {
    let p = at;
    const segment = (set: TokenSet): Segment => {
      const i = n[p++] as number;
      if (i >= 0) return set[i] as Segment;
      const seg = { start: n[p] as number, count: n[p + 1] as number, stride: n[p + 2] as number };
      p += 3;
      return seg;
    };
    const tiles: ComputeTile[] = new Array(count);
    for (let t = 0; t < count; t++) {
      const qs = segment(q);
      const ks = segment(kv);
      tiles[t] = { q: qs, kv: ks, mask: MASKS[n[p] as number] as MaskKind, pairs: wideAt(p + 1) };
      p += 3;
    }
    return tiles;
  };
  const rankComputeAt = (p: number): RankCompute =>
    new LazyRankCompute(n[p] as number, setOf(n[p + 1] as number), setOf(n[p + 2] as number), headsOf(n[p + 3] as number, n[p + 4] as number), decodeTiles, p + 7, n[p + 5] as number);
  const decodeCompute = (at: number): RankCompute[] => {
    let p = at;
    const compute: RankCompute[] = new Array(n[p++] as number);
    for (let r = 0; r < compute.length; r++, p += 7 + (n[p + 6] as number)) compute[r] = rankComputeAt(p);
    return compute;
  };
  /** One rank's compute, found by skipping the others' entries without decoding them. */
  const decodeRankCompute = (at: number, rank: number): RankCompute | undefined => {
    let p = at;
    const count = n[p++] as number;
    for (let r = 0; r < count; r++, p += 7 + (n[p + 6] as number)) if (n[p] === rank) return rankComputeAt(p);
    return undefined;
  };
  const decoder: Decoder = { collectives: decodeCollectives, compute: decodeCompute, rankCompute: decodeRankCompute, group: decodeGroup, transfers: decodeTransfers, transfer: decodeTransfer, visitTransfers };
  const steps: Step[] = head.steps.map((shell, s) => new LazyStep(shell, decoder, s));
  return { ...head, steps };
}

/** A step whose collectives and compute are decoded when first read. */
class LazyStep implements Step {
  readonly index: number;
  readonly phase: Step['phase'];
  readonly caption: string;
  readonly short?: string;
  #collectives: { collectives: Collective[]; computeAt: number } | null = null;
  #compute: RankCompute[] | null = null;
  readonly #decoder: Decoder;
  readonly #step: number;

  constructor(shell: StepShell, decoder: Decoder, step: number) {
    this.index = shell.index;
    this.phase = shell.phase;
    this.caption = shell.caption;
    if (shell.short !== undefined) this.short = shell.short;
    this.#decoder = decoder;
    this.#step = step;
  }

  /** Its collectives, and where its compute starts in the numbers. */
  #head(): { collectives: Collective[]; computeAt: number } {
    this.#collectives ??= this.#decoder.collectives(this.#step);
    return this.#collectives;
  }

  /** One rank's compute, decoding only its entry unless the whole list is decoded already. */
  computeOf(rank: number): RankCompute | undefined {
    if (this.#compute) return this.#compute.find((c) => c.rank === rank);
    return this.#decoder.rankCompute(this.#head().computeAt, rank);
  }

  get collectives(): readonly Collective[] {
    return this.#head().collectives;
  }

  get compute(): readonly RankCompute[] {
    this.#compute ??= this.#decoder.compute(this.#head().computeAt);
    return this.#compute;
  }

  /** Plain data for JSON (getters are not own properties). */
  toJSON(): Step {
    return { index: this.index, phase: this.phase, caption: this.caption, ...(this.short !== undefined ? { short: this.short } : {}), collectives: this.collectives, compute: this.compute };
  }
}

/**
 * `rank`'s compute in `step`: of a decoded step, only that rank's entry is decoded (the softmax panel
 * reads one rank of every forward step: 64 of 4,096 entries at 64 ranks). Equal to, but not always
 * the same object as, the entry in `step.compute`.
 */
export function computeOf(step: Step, rank: number): RankCompute | undefined {
  return step instanceof LazyStep ? step.computeOf(rank) : step.compute.find((c) => c.rank === rank);
}

/** A rank's compute whose tiles are decoded when first read (the softmax panel reads one rank's of every step). */
class LazyRankCompute implements RankCompute {
  #tiles: ComputeTile[] | null = null;
  constructor(
    readonly rank: number,
    readonly q: TokenSet,
    readonly kv: TokenSet,
    readonly heads: HeadRange,
    private readonly decode: (q: TokenSet, kv: TokenSet, at: number, count: number) => ComputeTile[],
    private readonly tilesAt: number,
    private readonly tileCount: number,
  ) {}

  get tiles(): readonly ComputeTile[] {
    this.#tiles ??= this.decode(this.q, this.kv, this.tilesAt, this.tileCount);
    return this.#tiles;
  }

  toJSON(): RankCompute {
    return { rank: this.rank, q: this.q, kv: this.kv, heads: this.heads, tiles: this.tiles };
  }
}

/**
 * What the lazy steps and collectives decode with: one per decoded schedule, so each keeps offsets
 * into the numbers rather than closures (a 64-rank schedule has hundreds of collectives, and the
 * caption badges read every step's).
 */
interface Decoder {
  collectives(step: number): { collectives: Collective[]; computeAt: number };
  compute(at: number): RankCompute[];
  rankCompute(at: number, rank: number): RankCompute | undefined;
  group(at: number): number[];
  transfers(at: number, count: number): Transfer[];
  transfer(at: number): Transfer;
  visitTransfers(at: number, count: number, visit: (t: TransferCursor) => void): void;
}

/** A transfer's fields as `eachTransfer` shows them: one object reused for every transfer of a walk. */
export interface TransferCursor {
  src: number;
  dst: number;
  tensor: TensorKind;
  tokens: TokenSet;
  /** Its index in the collective's transfers (for transferAt). */
  index: number;
}

/**
 * Visits `collective`'s transfers in order without making an object per transfer when they are not
 * decoded yet: the all-gather step at 64 ranks has 8,064, and the scene keeps ~1,100 of them. The
 * cursor is reused: copy what you keep, or read the transfer itself with `transferAt`.
 */
export function eachTransfer(collective: Collective, visit: (t: Readonly<TransferCursor>) => void): void {
  if (collective instanceof LazyCollective) collective.eachTransfer(visit);
  else visitDecoded(collective.transfers, visit);
}

function visitDecoded(transfers: readonly Transfer[], visit: (t: TransferCursor) => void): void {
  const cursor: TransferCursor = { src: 0, dst: 0, tensor: 'X', tokens: [], index: 0 };
  transfers.forEach((t, i) => {
    cursor.src = t.src;
    cursor.dst = t.dst;
    cursor.tensor = t.tensor;
    cursor.tokens = t.tokens;
    cursor.index = i;
    visit(cursor);
  });
}

const tensorKinds = new WeakMap<Collective, ReadonlySet<TensorKind>>();

/** The tensor kinds `collective` moves (once per collective; an all-gather at 64 ranks has 8,064 transfers of two kinds). */
export function tensorsOf(collective: Collective): ReadonlySet<TensorKind> {
  let kinds = tensorKinds.get(collective);
  if (!kinds) {
    const found = new Set<TensorKind>();
    if (collective instanceof LazyCollective) TENSORS.forEach((tensor, i) => collective.tensorMask & (1 << i) && found.add(tensor));
    else for (const t of collective.transfers) found.add(t.tensor);
    tensorKinds.set(collective, (kinds = found));
  }
  return kinds;
}

/** `collective.transfers[index]`, decoding only that one when the list is not decoded yet. Equal to, but not always the same object as, the list's entry. */
export function transferAt(collective: Collective, index: number): Transfer | undefined {
  return collective instanceof LazyCollective ? collective.transferAt(index) : collective.transfers[index];
}

/** A collective whose group and transfers are decoded when first read (a step's badge reads only its label). */
class LazyCollective implements Collective {
  readonly overlapsCompute?: boolean;
  #group: number[] | null = null;
  #transfers: Transfer[] | null = null;
  readonly #decoder: Decoder;
  readonly #groupAt: number;
  readonly #transfersAt: number;
  readonly #count: number;
  constructor(
    readonly kind: CollectiveKind,
    readonly label: string,
    overlapsCompute: boolean | undefined,
    decoder: Decoder,
    groupAt: number,
    transfersAt: number,
    count: number,
    /** The tensor kinds its transfers move, as bits of TENSORS (written by the encoder). */
    readonly tensorMask: number,
  ) {
    if (overlapsCompute !== undefined) this.overlapsCompute = overlapsCompute;
    this.#decoder = decoder;
    this.#groupAt = groupAt;
    this.#transfersAt = transfersAt;
    this.#count = count;
  }

  get group(): readonly number[] {
    this.#group ??= this.#decoder.group(this.#groupAt);
    return this.#group;
  }

  get transfers(): readonly Transfer[] {
    this.#transfers ??= this.#decoder.transfers(this.#transfersAt, this.#count);
    return this.#transfers;
  }

  eachTransfer(visit: (t: TransferCursor) => void): void {
    if (this.#transfers) visitDecoded(this.#transfers, visit);
    else this.#decoder.visitTransfers(this.#transfersAt, this.#count, visit);
  }

  transferAt(index: number): Transfer | undefined {
    if (this.#transfers) return this.#transfers[index];
    return index >= 0 && index < this.#count ? this.#decoder.transfer(this.#transfersAt + TRANSFER_SLOTS * index) : undefined;
  }

  toJSON(): Collective {
    return { kind: this.kind, group: this.group, transfers: this.transfers, label: this.label, ...(this.overlapsCompute !== undefined ? { overlapsCompute: this.overlapsCompute } : {}) };
  }
}
