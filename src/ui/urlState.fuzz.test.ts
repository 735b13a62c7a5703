// Property tests of the URL codec (issue 10, "Fuzzing in the suite"): arbitrary strings including
// unicode and lone surrogates, 100 KB values, repeated keys and prototype-named keys.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, MODEL_PRESETS, PARAM_KEYS, parseField, parseTokenCount, formatTokenCount, type Params } from '../model/params.ts';
import { DEFAULT_VIEW, parseUrlState, serializeUrlState, VIEW_KEYS } from './urlState.ts';
import { hostileQuery, hostileValue, hugeValue, validParams, validView } from '../testing/arbitraries.ts';

const KNOWN: readonly string[] = [...PARAM_KEYS, ...VIEW_KEYS];
const prototypeNames = () => Object.getOwnPropertyNames(Object.prototype).sort().join();
const PROTOTYPE_BEFORE = prototypeNames();
const untouched = (): void => {
  expect(prototypeNames()).toBe(PROTOTYPE_BEFORE);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
};
afterEach(untouched);

// Fields a model preset does not rewrite, so that a refused value must leave exactly the default.
const PRESET_FREE = PARAM_KEYS.filter((k) => k !== 'model' && !MODEL_PRESETS.some((m) => Object.hasOwn(m, k)));

describe('URL codec on hostile input', () => {
  const checkParsed = (search: string, hash: string): void => {
    const r = parseUrlState(`?${search}`, `#${hash}`);
    expect(Object.getPrototypeOf(r.params)).toBe(Object.prototype);
    expect(Object.keys(r.params).sort()).toEqual([...PARAM_KEYS].sort());
    expect(Object.keys(r.view).sort()).toEqual([...VIEW_KEYS].sort());
    for (const key of PARAM_KEYS) expect('value' in parseField(key, r.params[key]), `${key} = ${String(r.params[key])}`).toBe(true);
    for (const issue of r.issues) {
      expect(KNOWN).toContain(issue.field);
      expect(issue.message.length).toBeLessThan(400); // quotes at most 40 characters of the input
      expect(issue.message).not.toMatch(/\.\.$/);
    }
    untouched();
  };

  it('never throws; returns only known fields; issues name a known field; Object.prototype untouched', () => {
    fc.assert(fc.property(hostileQuery(KNOWN), hostileQuery(KNOWN), checkParsed), { numRuns: 400 });
  });

  it('the same with 100 KB values: a message naming the field, never a hang', () => {
    fc.assert(
      fc.property(hostileQuery(KNOWN, hugeValue, 3), (hash) => {
        checkParsed('', hash);
        const r = parseUrlState('', `#${hash}`);
        for (const [key, value] of new URLSearchParams(hash)) {
          if (value.length > 64 && PARAM_KEYS.includes(key as keyof Params) && new URLSearchParams(hash).get(key) === value) {
            expect(r.issues.find((i) => i.field === key)?.message).toMatch(/characters long; at most 64 are accepted, using /);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a bad value yields a message naming the field and the default it uses instead', () => {
    const badValue = fc.oneof(hostileValue, hugeValue, fc.constantFrom('-1', '99999999999', 'abc', '1.5', 'x'.repeat(65)));
    fc.assert(
      fc.property(fc.constantFrom(...PRESET_FREE), badValue, fc.array(fc.tuple(fc.constantFrom(...KNOWN), fc.string()), { maxLength: 3 }), (key, raw, noise) => {
        fc.pre(!('value' in parseField(key, raw))); // only values the field refuses
        // The field first (so it wins a repeat), then noise, then a repeat of the key with a good value.
        const pairs: [string, string][] = [[key, raw], ...noise.filter(([k]) => k !== key && k !== 'model' && k !== 'kvHeads' && k !== 'heads'), [key, String(DEFAULT_PARAMS[key])]];
        const r = parseUrlState('', `#${new URLSearchParams(pairs).toString()}`);
        const issue = r.issues.find((i) => i.field === key);
        expect(issue, `${key}=${raw.slice(0, 40)}`).toBeDefined();
        expect(issue?.message).toContain(`(${key})`);
        expect(issue?.message).toMatch(new RegExp(`, using ${String(DEFAULT_PARAMS[key]).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.$`));
        expect(r.params[key]).toBe(DEFAULT_PARAMS[key]);
      }),
      { numRuns: 400 },
    );
  });

  it('prototype-named keys and pollution paths are ignored', () => {
    for (const text of ['__proto__[polluted]=1', '__proto__.polluted=1', 'constructor[prototype][polluted]=1', '__proto__=x&constructor=y&toString=z&hasOwnProperty=1', 'ranks=4&__proto__=%7B%22polluted%22%3A1%7D']) {
      const r = parseUrlState(`?${text}`, `#${text}`);
      expect(r.params.ranks === DEFAULT_PARAMS.ranks || r.params.ranks === 4).toBe(true);
      expect(Object.hasOwn(r.params, '__proto__')).toBe(false);
      expect(r.issues.filter((i) => !KNOWN.includes(i.field))).toEqual([]);
      untouched();
    }
  });

  it('serialise ∘ parse is the identity on valid params and view', () => {
    fc.assert(
      fc.property(validParams, validView, (params, view) => {
        const r = parseUrlState('', `#${serializeUrlState(params, view)}`);
        expect(r.issues).toEqual([]);
        expect(r.params).toEqual(params);
        expect(r.view).toEqual(view);
      }),
      { numRuns: 500 },
    );
  });
});

describe('test of the tests: the same properties fail on deliberately broken parsers', () => {
  it('a token-count parser that drops the K suffix breaks serialise ∘ parse, and fast-check finds it', () => {
    const broken = (text: string): number => (/^\d+[kK]$/.test(text) ? Number(text.slice(0, -1)) : parseTokenCount(text));
    const run = fc.check(
      fc.property(validParams, (params) => {
        const text = formatTokenCount(params.seq);
        return broken(text) === params.seq;
      }),
      { numRuns: 500, seed: 1 },
    );
    expect(run.failed).toBe(true);
    expect(formatTokenCount((run.counterexample?.[0] as Params).seq)).toMatch(/K$/);
  });

  it('a naive nested-key parser pollutes Object.prototype, and the untouched-prototype property catches it', () => {
    // The classic bug: "a.b=1" → obj.a.b = 1, with no guard on __proto__ / constructor.
    const naive = (query: string): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of new URLSearchParams(query)) {
        const path = key.split(/[.[\]]+/).filter(Boolean);
        let node = out as Record<string, unknown>;
        for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
        node[path[path.length - 1] ?? ''] = value;
      }
      return out;
    };
    try {
      const run = fc.check(
        fc.property(hostileQuery(KNOWN), (q) => {
          naive(q);
          return ({} as Record<string, unknown>).polluted === undefined;
        }),
        { numRuns: 1000, seed: 2 },
      );
      expect(run.failed).toBe(true);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });
});

describe('defaults', () => {
  it('the empty URL is the default state with no issues', () => {
    expect(parseUrlState('', '')).toEqual({ params: { ...DEFAULT_PARAMS }, view: { ...DEFAULT_VIEW }, issues: [] });
  });
});
