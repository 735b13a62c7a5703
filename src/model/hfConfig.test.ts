import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyHfShape, parseHfConfig } from './hfConfig.ts';
import { parameterCounts } from './memory.ts';
import { DEFAULT_PARAMS, serializeParams, parseParams } from './params.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

// Published totals (safetensors metadata on each model's Hugging Face page, see fixtures/README.md).
const REAL: { file: string; params: number; shape: Record<string, number> }[] = [
  { file: 'llama3-8b.config.json', params: 8_030_261_248, shape: { layers: 32, hidden: 4096, heads: 32, kvHeads: 8, headDim: 128, ffnHidden: 14336, vocab: 128256 } },
  { file: 'qwen2.5-7b.config.json', params: 7_615_616_512, shape: { layers: 28, hidden: 3584, heads: 28, kvHeads: 4, headDim: 128, ffnHidden: 18944, vocab: 152064 } },
  { file: 'mistral-7b.config.json', params: 7_241_732_096, shape: { layers: 32, hidden: 4096, heads: 32, kvHeads: 8, headDim: 128, ffnHidden: 14336, vocab: 32000 } },
];

describe('Hugging Face config.json', () => {
  for (const real of REAL) {
    it(`${real.file}: shape and parameter count within 1% of the published ${(real.params / 1e9).toFixed(2)}B`, () => {
      const r = parseHfConfig(fixture(real.file));
      if (!r.ok) throw new Error(r.errors.join(' '));
      expect(r.shape).toEqual(real.shape);
      const total = parameterCounts(r.shape).total;
      expect(Math.abs(total - real.params) / real.params).toBeLessThan(0.01);
    });
  }

  it('Llama 3 8B matches its preset; Qwen becomes a custom model that round-trips through the URL', () => {
    const llama = parseHfConfig(fixture('llama3-8b.config.json'));
    const qwen = parseHfConfig(fixture('qwen2.5-7b.config.json'));
    if (!llama.ok || !qwen.ok) throw new Error('fixtures must parse');
    expect(applyHfShape({ ...DEFAULT_PARAMS, model: 'llama3-70b' }, llama.shape).model).toBe('llama3-8b');
    const p = applyHfShape({ ...DEFAULT_PARAMS, seq: 65536, ranks: 4 }, qwen.shape);
    expect(p.model).toBe('custom');
    expect(p.seq).toBe(65536);
    expect(p.ranks).toBe(4);
    const back = parseParams(serializeParams(p));
    expect(back.issues).toEqual([]);
    expect(back.params).toEqual(p);
  });

  it('missing head_dim and num_key_value_heads are derived, with notes naming them', () => {
    const r = parseHfConfig(JSON.stringify({ hidden_size: 2048, num_attention_heads: 16, intermediate_size: 8192, vocab_size: 50257, num_hidden_layers: 24 }));
    if (!r.ok) throw new Error(r.errors.join(' '));
    expect(r.shape).toMatchObject({ headDim: 128, kvHeads: 16 });
    expect(r.notes.join(' ')).toMatch(/head_dim/);
    expect(r.notes.join(' ')).toMatch(/num_key_value_heads/);
  });

  it('notes what is not modelled (sliding window, MoE, tied embeddings) but not Qwen\'s disabled window', () => {
    const mistral = parseHfConfig(fixture('mistral-7b.config.json'));
    const qwen = parseHfConfig(fixture('qwen2.5-7b.config.json'));
    if (!mistral.ok || !qwen.ok) throw new Error('fixtures must parse');
    expect(mistral.notes.join(' ')).toMatch(/sliding_window 4096/);
    expect(qwen.notes.join(' ')).not.toMatch(/sliding_window/);
  });

  it('reads text_config of a multimodal config', () => {
    const r = parseHfConfig(JSON.stringify({ architectures: ['X'], text_config: JSON.parse(fixture('mistral-7b.config.json')) }));
    expect(r.ok).toBe(true);
  });

  const BAD: [string, string, RegExp][] = [
    ['not JSON', '{"hidden_size": 4096,', /not valid JSON/],
    ['an array', '[1, 2]', /JSON object/],
    ['missing fields named', JSON.stringify({ hidden_size: 4096, num_attention_heads: 32 }), /missing num_hidden_layers, intermediate_size, vocab_size/],
    ['a string value', JSON.stringify({ ...JSON.parse(fixture('mistral-7b.config.json')), hidden_size: '4096' }), /hidden_size must be a number/],
    ['a fraction', JSON.stringify({ ...JSON.parse(fixture('mistral-7b.config.json')), num_hidden_layers: 3.5 }), /num_hidden_layers.*integer/],
    ['out of range', JSON.stringify({ ...JSON.parse(fixture('mistral-7b.config.json')), vocab_size: 0 }), /vocab_size/],
    ['K/V heads not dividing', JSON.stringify({ ...JSON.parse(fixture('mistral-7b.config.json')), num_key_value_heads: 5 }), /num_key_value_heads 5 must divide/],
    ['__proto__ is not a field', '{"__proto__": {"hidden_size": 4096}}', /missing/],
  ];
  for (const [name, text, message] of BAD) {
    it(`malformed config (${name}) gives a message naming the problem and no shape`, () => {
      const r = parseHfConfig(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.join(' ')).toMatch(message);
    });
  }
});
