// One Params type for everything the user controls, with defaults, bounds and a URL codec.
// Pure: no DOM, no GPU. Parsing never throws; bad input yields a message naming the field,
// its allowed range, and the safe value used instead.

export const STRATEGY_IDS = ['allgather', 'ring', 'zigzag', 'striped', 'ulysses', 'megatron-sp', 'usp'] as const;
export type StrategyId = (typeof STRATEGY_IDS)[number];

export const DTYPES = ['fp32', 'bf16', 'fp16'] as const;
export type Dtype = (typeof DTYPES)[number];
export const DTYPE_BYTES: Record<Dtype, number> = { fp32: 4, bf16: 2, fp16: 2 };

export const RECOMPUTE_MODES = ['none', 'selective', 'full'] as const;
export type Recompute = (typeof RECOMPUTE_MODES)[number];

/**
 * Implementation profile: whose code the schedule and costs follow where real implementations
 * differ (backward ring direction and dK/dV dtype, K/V re-communication, K/V working set, gradient
 * dtype, which combinations are valid, knob names). 'auto' picks the default for the strategy
 * (DEFAULT_IMPL in strategies/impl.ts, documented there and in the README).
 */
export const IMPL_IDS = ['auto', 'megatron-te', 'ring-flash-attn', 'pytorch', 'deepspeed'] as const;
export type ImplChoice = (typeof IMPL_IDS)[number];
export type ImplId = Exclude<ImplChoice, 'auto'>;

/** ZeRO stage applied across the data-parallel group that the CP ranks join (0 = replicated). */
export const ZERO_STAGES = [0, 1, 2, 3] as const;
export type ZeroStage = (typeof ZERO_STAGES)[number];

export interface GpuPreset {
  readonly id: string;
  readonly name: string;
  /** HBM capacity, bytes. */
  readonly memoryBytes: number;
  /** Dense bf16 tensor FLOP/s (vendor datasheet, without sparsity). */
  readonly flops: number;
  /** Per-GPU, per-direction bandwidth inside a node (NVLink), bytes/s. */
  readonly intraNodeBandwidth: number;
  /** Per-GPU, per-direction bandwidth across nodes (NIC), bytes/s. */
  readonly interNodeBandwidth: number;
  /** Per-message latency (α of the α-β model), seconds. */
  readonly latency: number;
  readonly gpusPerNode: number;
}

const GB = 1e9;
// Sources: NVIDIA A100 / H100 / H200 / B200 datasheets (dense BF16, NVLink total / 2 per direction,
// one 200/400/400/400 Gb/s NIC per GPU).
export const GPU_PRESETS: readonly GpuPreset[] = [
  { id: 'a100', name: 'A100 80GB SXM', memoryBytes: 80 * GB, flops: 312e12, intraNodeBandwidth: 300 * GB, interNodeBandwidth: 25 * GB, latency: 10e-6, gpusPerNode: 8 },
  { id: 'h100', name: 'H100 80GB SXM', memoryBytes: 80 * GB, flops: 989e12, intraNodeBandwidth: 450 * GB, interNodeBandwidth: 50 * GB, latency: 10e-6, gpusPerNode: 8 },
  { id: 'h200', name: 'H200 141GB SXM', memoryBytes: 141 * GB, flops: 989e12, intraNodeBandwidth: 450 * GB, interNodeBandwidth: 50 * GB, latency: 10e-6, gpusPerNode: 8 },
  { id: 'b200', name: 'B200 180GB', memoryBytes: 180 * GB, flops: 2250e12, intraNodeBandwidth: 900 * GB, interNodeBandwidth: 50 * GB, latency: 10e-6, gpusPerNode: 8 },
];
export type GpuId = string;

export interface ModelPreset {
  readonly id: string;
  readonly name: string;
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocab: number;
  /** FFN inner size; the activation formulas assume 4h, the weight count uses this. */
  readonly ffnHidden: number;
}

// Sources: Llama 3 paper Table 3; GPT-3 paper Table 2.1.
export const MODEL_PRESETS: readonly ModelPreset[] = [
  { id: 'llama3-8b', name: 'Llama 3 8B', layers: 32, hidden: 4096, heads: 32, kvHeads: 8, headDim: 128, vocab: 128256, ffnHidden: 14336 },
  { id: 'llama3-70b', name: 'Llama 3 70B', layers: 80, hidden: 8192, heads: 64, kvHeads: 8, headDim: 128, vocab: 128256, ffnHidden: 28672 },
  { id: 'gpt3-175b', name: 'GPT-3 175B', layers: 96, hidden: 12288, heads: 96, kvHeads: 96, headDim: 128, vocab: 50257, ffnHidden: 49152 },
];

export interface Params {
  // Parallelism
  strategy: StrategyId;
  /** Modelled sequence length (tokens): drives memory and communication, up to millions. */
  seq: number;
  /** Sequence/context-parallel degree P. For megatron-sp this is the TP=SP group size. */
  ranks: number;
  /** Ulysses degree inside P for the hybrid (usp): P = ulysses × ring. */
  ulysses: number;
  /** Tensor-parallel degree used alongside CP (1 = none). Ignored by megatron-sp, where t = ranks. */
  tp: number;
  // Model
  model: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  ffnHidden: number;
  microBatch: number;
  // Memory
  dtype: Dtype;
  flash: boolean;
  recompute: Recompute;
  zero: ZeroStage;
  /** Data-parallel size the optimizer state is sharded over when zero > 0 (CP ranks join it). */
  dp: number;
  /** Implementation profile ('auto' = the strategy's default, see strategies/impl.ts). */
  impl: ImplChoice;
  // Hardware
  gpu: GpuId;
  /** Attention kernels' achieved fraction of peak FLOP/s, in percent (timeline.ts cites the default). */
  attnEff: number;
  /** Dense GEMMs' (projections, MLP) achieved fraction of peak FLOP/s, in percent. */
  gemmEff: number;
  // Verification (what the GPU actually executes)
  /** Executed sequence length: the size the GPU runs to verify the strategy, capped by the adapter. */
  execSeq: number;
  seed: number;
  /** Demonstration of a real bug: mask by local instead of global token position. */
  localMask: boolean;
}

interface IntField { kind: 'int'; min: number; max: number; pow2?: boolean; label: string }
interface EnumField { kind: 'enum'; values: readonly (string | number)[]; label: string }
interface BoolField { kind: 'bool'; label: string }
type FieldSpec = IntField | EnumField | BoolField;

export const DEFAULT_PARAMS: Readonly<Params> = Object.freeze({
  strategy: 'ring',
  seq: 131072,
  ranks: 8,
  ulysses: 2,
  tp: 1,
  model: 'llama3-8b',
  layers: 32,
  hidden: 4096,
  heads: 32,
  kvHeads: 8,
  headDim: 128,
  vocab: 128256,
  ffnHidden: 14336,
  microBatch: 1,
  dtype: 'bf16',
  flash: true,
  recompute: 'full',
  zero: 1,
  dp: 1,
  impl: 'auto',
  gpu: 'h100',
  attnEff: 50,
  gemmEff: 80,
  execSeq: 256,
  seed: 1,
  localMask: false,
});

export const MAX_SEQ = 16 * 1024 * 1024;
export const MAX_RANKS = 64;
export const MAX_EXEC_SEQ = 16384;

export const PARAM_SPECS: { readonly [K in keyof Params]: FieldSpec } = {
  strategy: { kind: 'enum', values: STRATEGY_IDS, label: 'strategy' },
  seq: { kind: 'int', min: 1, max: MAX_SEQ, label: 'sequence length (modelled)' },
  ranks: { kind: 'int', min: 1, max: MAX_RANKS, label: 'ranks' },
  ulysses: { kind: 'int', min: 1, max: MAX_RANKS, label: 'Ulysses degree' },
  tp: { kind: 'int', min: 1, max: 64, label: 'TP degree' },
  model: { kind: 'enum', values: [...MODEL_PRESETS.map((m) => m.id), 'custom'], label: 'model preset' },
  layers: { kind: 'int', min: 1, max: 512, label: 'layers' },
  hidden: { kind: 'int', min: 8, max: 131072, label: 'hidden size' },
  heads: { kind: 'int', min: 1, max: 1024, label: 'attention heads' },
  kvHeads: { kind: 'int', min: 1, max: 1024, label: 'K/V heads' },
  headDim: { kind: 'int', min: 4, max: 512, label: 'head dimension' },
  vocab: { kind: 'int', min: 2, max: 1_048_576, label: 'vocabulary' },
  ffnHidden: { kind: 'int', min: 8, max: 524288, label: 'FFN hidden size' },
  microBatch: { kind: 'int', min: 1, max: 1024, label: 'micro-batch' },
  dtype: { kind: 'enum', values: DTYPES, label: 'dtype' },
  flash: { kind: 'bool', label: 'flash attention' },
  recompute: { kind: 'enum', values: RECOMPUTE_MODES, label: 'recompute' },
  zero: { kind: 'enum', values: ZERO_STAGES, label: 'ZeRO stage' },
  dp: { kind: 'int', min: 1, max: 65536, label: 'data-parallel size' },
  impl: { kind: 'enum', values: IMPL_IDS, label: 'implementation' },
  gpu: { kind: 'enum', values: GPU_PRESETS.map((g) => g.id), label: 'GPU' },
  attnEff: { kind: 'int', min: 1, max: 100, label: 'attention efficiency (% of peak)' },
  gemmEff: { kind: 'int', min: 1, max: 100, label: 'GEMM efficiency (% of peak)' },
  execSeq: { kind: 'int', min: 1, max: MAX_EXEC_SEQ, label: 'executed sequence length' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, label: 'seed' },
  localMask: { kind: 'bool', label: 'local mask (bug demo)' },
};

export const PARAM_KEYS = Object.keys(PARAM_SPECS) as (keyof Params)[];

export interface ParamIssue {
  field: string;
  /** Human-readable: names the field, its allowed range and the value used instead. */
  message: string;
  /** The same sentence without the value used instead, for callers that refuse the input (the CLI). */
  problem?: string;
}

/** An issue whose message is `problem` plus the value used instead: one sentence, one period. */
export function fieldIssue(field: string, problem: string, fallback: unknown): ParamIssue {
  const body = problem.replace(/\.$/, '');
  return { field, problem: `${body}.`, message: `${body}, using ${String(fallback)}.` };
}

/** The sentence for a caller that refuses bad input instead of falling back. */
export function issueProblem(issue: ParamIssue): string {
  return issue.problem ?? issue.message;
}

export interface ParseResult {
  params: Params;
  issues: ParamIssue[];
}

const SUFFIX: Record<string, number> = { k: 1024, m: 1024 * 1024 };

/**
 * Longest value text accepted for any field, checked before the value is looked at. Real values are
 * short ("131072", "llama3-70b"); a longer one is an error naming the field, so that a hostile link
 * cannot make a parser spend time on megabytes.
 */
export const MAX_VALUE_LENGTH = 64;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
// The characters of the regex class \s (ECMAScript WhiteSpace and LineTerminator).
const isSpace = (c: number): boolean =>
  c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;

/** Parses "128k", "1.5M", "131072", "1e6". Returns NaN for anything else; a fraction stays a fraction,
 * so that the caller's integer check rejects "12.5" instead of silently rounding it.
 * One forward scan, no regex: linear in the text, and texts over MAX_VALUE_LENGTH are NaN at once. */
export function parseTokenCount(text: string): number {
  if (text.length > MAX_VALUE_LENGTH) return Number.NaN;
  let i = 0;
  const n = text.length;
  const skipSpace = (): void => {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
  };
  const digits = (): boolean => {
    const start = i;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    return i > start;
  };
  skipSpace();
  const numberStart = i;
  if (!digits()) return Number.NaN;
  if (text[i] === '.') {
    i++;
    if (!digits()) return Number.NaN;
  }
  if (text[i] === 'e') {
    i++;
    if (!digits()) return Number.NaN;
  }
  const base = Number(text.slice(numberStart, i));
  skipSpace();
  let mult = 1;
  const suffix = text[i];
  if (suffix !== undefined && Object.hasOwn(SUFFIX, suffix.toLowerCase())) {
    mult = SUFFIX[suffix.toLowerCase()] as number;
    i++;
  }
  skipSpace();
  return i === n ? base * mult : Number.NaN;
}

/** "131072" -> "128K", "1048576" -> "1M", "1000" -> "1000". Exact, so it round-trips. */
export function formatTokenCount(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

function describeRange(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'int':
      return `an integer from ${spec.min} to ${spec.max}`;
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'bool':
      return '0 or 1';
  }
}

/** Validates one raw value for a field. Returns the value or an issue; never throws. */
export function parseField<K extends keyof Params>(key: K, raw: unknown): { value: Params[K] } | { issue: ParamIssue } {
  const spec = PARAM_SPECS[key];
  const fallback = DEFAULT_PARAMS[key];
  const fail = (): { issue: ParamIssue } => ({
    issue: fieldIssue(key, `${spec.label} (${key}) must be ${describeRange(spec)}; got "${String(raw).slice(0, 40)}"`, fallback),
  });
  if (typeof raw === 'string' && raw.length > MAX_VALUE_LENGTH) {
    return { issue: fieldIssue(key, `${spec.label} (${key}) is ${raw.length} characters long; at most ${MAX_VALUE_LENGTH} are accepted`, fallback) };
  }
  switch (spec.kind) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseTokenCount(raw) : Number.NaN;
      if (!Number.isFinite(n) || !Number.isInteger(n) || n < spec.min || n > spec.max) return fail();
      return { value: n as Params[K] };
    }
    case 'enum': {
      const hit = spec.values.find((v) => String(v) === String(raw).trim().toLowerCase());
      if (hit === undefined) return fail();
      return { value: hit as Params[K] };
    }
    case 'bool': {
      const s = String(raw).trim().toLowerCase();
      if (raw === true || s === '1' || s === 'true' || s === 'on' || s === '') return { value: true as Params[K] };
      if (raw === false || s === '0' || s === 'false' || s === 'off') return { value: false as Params[K] };
      return fail();
    }
  }
}

/** Applies a model preset's shape to params (a 'custom' id leaves the shape as it is). */
export function applyModelPreset(params: Params, presetId: string): Params {
  const preset = MODEL_PRESETS.find((m) => m.id === presetId);
  if (!preset) return { ...params, model: 'custom' };
  const { id, name: _name, ...shape } = preset;
  return { ...params, ...shape, model: id };
}

/**
 * Reads params from URL search params (query or hash, "a=1&b=2"). Unknown keys are ignored.
 * Every bad value becomes an issue plus the default, so the page always has a usable state.
 */
export function parseParams(search: string | URLSearchParams): ParseResult {
  const query = typeof search === 'string' ? new URLSearchParams(search.replace(/^[?#]/, '')) : search;
  const issues: ParamIssue[] = [];
  let params: Params = { ...DEFAULT_PARAMS };
  // A preset first, so that explicit shape fields in the URL override it.
  const presetRaw = query.get('model');
  if (presetRaw !== null) {
    const r = parseField('model', presetRaw);
    if ('value' in r) params = applyModelPreset(params, r.value);
    else issues.push(r.issue);
  }
  for (const key of PARAM_KEYS) {
    if (key === 'model') continue;
    const raw = query.get(key);
    if (raw === null) continue;
    const r = parseField(key, raw);
    if ('value' in r) (params as unknown as Record<string, unknown>)[key] = r.value;
    else issues.push(r.issue);
  }
  const shapeKeys = ['layers', 'hidden', 'heads', 'kvHeads', 'headDim', 'vocab', 'ffnHidden'] as const;
  const preset = MODEL_PRESETS.find((m) => m.id === params.model);
  if (preset && shapeKeys.some((k) => params[k] !== preset[k])) params.model = 'custom';
  issues.push(...checkConsistency(params));
  return { params, issues };
}

/**
 * Cross-field rules that are true for any strategy (per-strategy rules, such as Ulysses'
 * head divisibility, are reported by the strategy as a reason, not fixed here).
 */
export function checkConsistency(params: Params): ParamIssue[] {
  const issues: ParamIssue[] = [];
  if (params.kvHeads > params.heads || params.heads % params.kvHeads !== 0) {
    issues.push(fieldIssue('kvHeads', `K/V heads (kvHeads) must divide the ${params.heads} query heads; got ${params.kvHeads}`, params.heads));
    params.kvHeads = params.heads;
  }
  return issues;
}

/** Serialises only the fields that differ from the defaults, in a stable order. */
export function serializeParams(params: Params): string {
  const query = new URLSearchParams();
  const preset = MODEL_PRESETS.find((m) => m.id === params.model);
  for (const key of PARAM_KEYS) {
    const value = params[key];
    const presetValue = preset && key in preset ? (preset as unknown as Record<string, unknown>)[key] : undefined;
    if (presetValue !== undefined ? value === presetValue : value === DEFAULT_PARAMS[key]) continue;
    query.set(key, typeof value === 'boolean' ? (value ? '1' : '0') : key === 'seq' || key === 'execSeq' ? formatTokenCount(value as number) : String(value));
  }
  return query.toString();
}

export function gpuPreset(params: Pick<Params, 'gpu'>): GpuPreset {
  return GPU_PRESETS.find((g) => g.id === params.gpu) ?? (GPU_PRESETS[1] as GpuPreset);
}

export function dtypeBytes(params: Pick<Params, 'dtype'>): number {
  return DTYPE_BYTES[params.dtype];
}
