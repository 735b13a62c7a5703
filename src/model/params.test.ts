import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PARAMS,
  MODEL_PRESETS,
  PARAM_KEYS,
  PARAM_SPECS,
  formatTokenCount,
  parseField,
  parseParams,
  parseTokenCount,
  serializeParams,
  type Params,
} from './params.ts';

/** Deterministic LCG so a failure is reproducible. */
function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((s / 2 ** 31) * n);
  };
}

function randomParams(rnd: (n: number) => number): Params {
  const p: Record<string, unknown> = { ...DEFAULT_PARAMS };
  for (const key of PARAM_KEYS) {
    const spec = PARAM_SPECS[key];
    if (spec.kind === 'int') {
      // Mix small values, powers of two and the bounds.
      const pick = rnd(4);
      p[key] = pick === 0 ? spec.min : pick === 1 ? spec.max : pick === 2 ? Math.min(spec.max, Math.max(spec.min, 2 ** rnd(24))) : spec.min + rnd(spec.max - spec.min + 1);
    } else if (spec.kind === 'enum') p[key] = spec.values[rnd(spec.values.length)];
    else p[key] = rnd(2) === 1;
  }
  const params = p as unknown as Params;
  // K/V heads must divide the query heads (checkConsistency); a preset fixes the whole shape.
  const divisors = Array.from({ length: params.heads }, (_, d) => d + 1).filter((d) => params.heads % d === 0);
  params.kvHeads = divisors[rnd(divisors.length)] ?? 1;
  const preset = MODEL_PRESETS.find((m) => m.id === params.model);
  if (preset) {
    const { id: _id, name: _name, ...shape } = preset;
    Object.assign(params, shape);
  }
  return params;
}

describe('params URL codec', () => {
  it('round-trips random valid params through serializeParams / parseParams', () => {
    const rnd = rng(42);
    for (let i = 0; i < 500; i++) {
      const p = randomParams(rnd);
      const text = serializeParams(p);
      const back = parseParams(text);
      expect(back.issues, text).toEqual([]);
      expect(back.params, text).toEqual(p);
      // Also through the '?' and '#' forms a page URL has.
      expect(parseParams(`?${text}`).params).toEqual(p);
      expect(parseParams(`#${text}`).params).toEqual(p);
    }
  });

  it('defaults serialise to an empty query', () => {
    expect(serializeParams({ ...DEFAULT_PARAMS })).toBe('');
    expect(parseParams('').params).toEqual(DEFAULT_PARAMS);
  });

  it('parses token counts with k / M suffixes', () => {
    expect(parseTokenCount('128k')).toBe(131072);
    expect(parseTokenCount('128K')).toBe(131072);
    expect(parseTokenCount('1M')).toBe(1048576);
    expect(parseTokenCount('131072')).toBe(131072);
    expect(parseParams('seq=128k').params.seq).toBe(131072);
    expect(parseParams('seq=10M').params.seq).toBe(10 * 1048576);
    // A fraction with a suffix is fine when it lands on a whole token count; otherwise it is rejected.
    expect(parseTokenCount('1.5k')).toBe(1536);
    expect(parseParams('seq=0.1k').issues.map((i) => i.field)).toContain('seq');
    for (const n of [1, 1000, 1024, 131072, 1048576, 3 * 1048576, 16 * 1048576]) expect(parseTokenCount(formatTokenCount(n))).toBe(n);
  });

  const BAD: [keyof Params, string][] = [
    ['seq', '0'],
    ['seq', '-5'],
    ['seq', 'NaN'],
    ['seq', 'abc'],
    ['seq', '1e99'],
    ['seq', ''],
    ['seq', '99999999999'],
    ['seq', '12.5'],
    ['heads', '12.5'],
    ['ranks', '65'],
    ['ranks', '0'],
    ['ranks', 'Infinity'],
    ['heads', '-1'],
    ['headDim', '3'],
    ['microBatch', '1e3x'],
    ['strategy', 'ring-ish'],
    ['dtype', 'fp8'],
    ['gpu', 'tpu'],
    ['zero', '4'],
    ['flash', 'maybe'],
    ['execSeq', '20000'],
  ];

  for (const [field, raw] of BAD)
    it(`${field}=${JSON.stringify(raw)} gives an issue naming the field and range, and the default`, () => {
      let result: ReturnType<typeof parseParams> | undefined;
      expect(() => (result = parseParams(new URLSearchParams([[field, raw]])))).not.toThrow();
      const issue = result?.issues.find((x) => x.field === field);
      expect(issue, `no issue for ${field}=${raw}`).toBeDefined();
      expect(issue?.message).toContain(`(${field})`);
      expect(issue?.message).toMatch(/must be (an integer from \d+ to \d+|one of |0 or 1)/);
      expect(issue?.message).toContain('using');
      expect(result?.params[field]).toEqual(DEFAULT_PARAMS[field]);
    });

  it('an integer issue names the allowed range', () => {
    const r = parseField('ranks', '999');
    expect('issue' in r && r.issue.message).toContain('an integer from 1 to 64');
  });

  it('garbage of every kind never throws', () => {
    const rnd = rng(7);
    const junk = ['', ' ', '-', '1e99', 'NaN', '∞', '0x10', '１２', '%', '&&', '=', '1,2', 'null', 'undefined', '[]', '{}', 'true', '9'.repeat(400)];
    for (let i = 0; i < 300; i++) {
      const q = new URLSearchParams();
      for (const key of PARAM_KEYS) if (rnd(3) === 0) q.set(key, junk[rnd(junk.length)] ?? '');
      expect(() => parseParams(q)).not.toThrow();
      const { params } = parseParams(q);
      for (const key of PARAM_KEYS) {
        const spec = PARAM_SPECS[key];
        if (spec.kind === 'int') {
          const v = params[key] as number;
          expect(Number.isInteger(v) && v >= spec.min && v <= spec.max, `${key}=${v}`).toBe(true);
        }
      }
    }
    expect(() => parseParams('%%%&=&==')).not.toThrow();
  });

  it('K/V heads that do not divide the heads fall back with a message', () => {
    const r = parseParams('model=custom&heads=32&kvHeads=5');
    expect(r.params.kvHeads).toBe(32);
    expect(r.issues.find((x) => x.field === 'kvHeads')?.message).toContain('must divide the 32 query heads');
  });

  it('a model preset sets the shape; an explicit shape field overrides it and marks the model custom', () => {
    expect(parseParams('model=llama3-70b').params).toMatchObject({ heads: 64, kvHeads: 8, layers: 80, model: 'llama3-70b' });
    expect(parseParams('model=llama3-70b&layers=2').params).toMatchObject({ heads: 64, layers: 2, model: 'custom' });
  });

  it('keeps the modelled and executed sequence lengths apart', () => {
    const p = parseParams('seq=1M&execSeq=512').params;
    expect(p.seq).toBe(1048576);
    expect(p.execSeq).toBe(512);
    expect(PARAM_SPECS.seq.label).toMatch(/modelled/);
    expect(PARAM_SPECS.execSeq.label).toMatch(/executed/);
  });
});
