// A Hugging Face `config.json` -> the model fields of Params. Pure: text in, a new shape or the
// reasons there is none out. It never applies a partial shape: when a required field is missing
// or out of range, the caller keeps its params exactly as they were.
//
// Field names follow transformers' PretrainedConfig subclasses (LlamaConfig, Qwen2Config,
// MistralConfig): hidden_size, num_attention_heads, num_key_value_heads (absent = MHA, as
// LlamaConfig defaults it to num_attention_heads), head_dim (absent = hidden_size /
// num_attention_heads, as LlamaAttention computes it), intermediate_size, vocab_size,
// num_hidden_layers. Multimodal configs keep these under `text_config`, which is read instead.

import { applyModelPreset, checkConsistency, MODEL_PRESETS, parseField, type Params } from './params.ts';

export type ShapeKey = 'layers' | 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'vocab' | 'ffnHidden';
export type ModelShape = Pick<Params, ShapeKey>;

/** config.json key -> Params field. */
export const HF_FIELDS: readonly (readonly [string, ShapeKey])[] = [
  ['num_hidden_layers', 'layers'],
  ['hidden_size', 'hidden'],
  ['num_attention_heads', 'heads'],
  ['num_key_value_heads', 'kvHeads'],
  ['head_dim', 'headDim'],
  ['intermediate_size', 'ffnHidden'],
  ['vocab_size', 'vocab'],
];

const REQUIRED = new Set(['num_hidden_layers', 'hidden_size', 'num_attention_heads', 'intermediate_size', 'vocab_size']);

/** Keys that change the cost of a real model but that the cost model does not price. */
const NOT_MODELLED: Readonly<Record<string, (v: unknown, cfg: Record<string, unknown>) => string | null>> = {
  tie_word_embeddings: (v) => (v === true ? 'tie_word_embeddings is true: the output head is still counted as its own vocab × hidden matrix' : null),
  // Qwen2 configs carry a sliding_window that use_sliding_window: false switches off.
  sliding_window: (v, cfg) => (typeof v === 'number' && v > 0 && own(cfg, 'use_sliding_window') !== false ? `sliding_window ${v} is not modelled: attention is priced as full causal` : null),
  num_local_experts: (v) => (typeof v === 'number' && v > 1 ? `num_local_experts ${v} (mixture of experts) is not modelled: the MLP is priced as one dense FFN` : null),
  num_experts: (v) => (typeof v === 'number' && v > 1 ? `num_experts ${v} (mixture of experts) is not modelled: the MLP is priced as one dense FFN` : null),
};

/** Largest config text we read (real ones are ~1 KB). */
export const MAX_CONFIG_CHARS = 256 * 1024;

export type HfConfigResult =
  | { ok: true; shape: ModelShape; notes: string[]; name: string | null }
  | { ok: false; errors: string[] };

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function own(o: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

/** Parses config.json text. Errors and notes name the config keys they are about. */
export function parseHfConfig(text: string): HfConfigResult {
  if (text.length > MAX_CONFIG_CHARS) return { ok: false, errors: [`config.json is ${Math.round(text.length / 1024)} KB; a model config is a few KB (limit ${MAX_CONFIG_CHARS / 1024} KB).`] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, errors: [`config.json is not valid JSON: ${error instanceof Error ? error.message : String(error)}.`] };
  }
  if (!isRecord(json)) return { ok: false, errors: ['config.json must be a JSON object such as {"hidden_size": 4096, …}.'] };
  let cfg = json;
  const notes: string[] = [];
  const text_config = own(json, 'text_config');
  if (own(json, 'hidden_size') === undefined && isRecord(text_config)) {
    cfg = text_config;
    notes.push('read the language model from text_config.');
  }
  const errors: string[] = [];
  const missing = HF_FIELDS.filter(([k]) => REQUIRED.has(k) && own(cfg, k) === undefined).map(([k]) => k);
  if (missing.length > 0) errors.push(`config.json is missing ${missing.join(', ')}; the model needs ${[...REQUIRED].join(', ')}.`);
  const shape: Partial<ModelShape> = {};
  for (const [key, field] of HF_FIELDS) {
    const raw = own(cfg, key);
    if (raw === undefined || raw === null) continue;
    if (typeof raw !== 'number') {
      errors.push(`${key} must be a number; got ${JSON.stringify(raw).slice(0, 40)}.`);
      continue;
    }
    const r = parseField(field, raw);
    if ('issue' in r) errors.push(`${key}: ${r.issue.message.replace(/, using [^,]*\.$/, '.')}`);
    else shape[field] = r.value;
  }
  if (errors.length > 0) return { ok: false, errors };
  const heads = shape.heads as number;
  if (shape.kvHeads === undefined) {
    shape.kvHeads = heads;
    notes.push(`num_key_value_heads is missing: using ${heads} (one K/V head per query head, as transformers does).`);
  }
  if (shape.headDim === undefined) {
    const hidden = shape.hidden as number;
    if (hidden % heads !== 0) return { ok: false, errors: [`head_dim is missing and hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}; add head_dim.`] };
    const d = parseField('headDim', hidden / heads);
    if ('issue' in d) return { ok: false, errors: [`head_dim (hidden_size / num_attention_heads = ${hidden / heads}): ${d.issue.message.replace(/, using [^,]*\.$/, '.')}`] };
    shape.headDim = d.value;
    notes.push(`head_dim is missing: using hidden_size / num_attention_heads = ${d.value}.`);
  }
  if (heads % (shape.kvHeads as number) !== 0) return { ok: false, errors: [`num_key_value_heads ${shape.kvHeads} must divide num_attention_heads ${heads}.`] };
  for (const [key, describe] of Object.entries(NOT_MODELLED)) {
    const note = describe(own(cfg, key), cfg);
    if (note) notes.push(`${note}.`);
  }
  const architectures = own(json, 'architectures');
  const modelType = own(cfg, 'model_type');
  const name = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : typeof modelType === 'string' ? modelType : null;
  return { ok: true, shape: shape as ModelShape, notes, name };
}

/**
 * Params with the config's shape. Matches a preset when the shape is one (so a pasted Llama 3 8B
 * config keeps the preset's name), else model 'custom'. Nothing but the seven shape fields and
 * `model` changes.
 */
export function applyHfShape(params: Params, shape: ModelShape): Params {
  const next: Params = { ...params, ...shape, model: 'custom' };
  const keys = Object.keys(shape) as ShapeKey[];
  const preset = MODEL_PRESETS.find((m) => keys.every((k) => m[k] === shape[k]));
  const out = preset ? applyModelPreset(next, preset.id) : next;
  // The shape was checked above; consistency cannot change it, but a guard keeps the contract.
  if (checkConsistency({ ...out }).length > 0) return params;
  return out;
}
