// fast-check generators shared by the fuzz tests (src/**/*.fuzz.test.ts).
import fc from 'fast-check';
import { applyModelPreset, checkConsistency, DEFAULT_PARAMS, PARAM_KEYS, PARAM_SPECS, type Params } from '../model/params.ts';
import { DEFAULT_VIEW, INKS, MAX_URL_STEP, THEMES, type ViewState } from '../ui/urlState.ts';

type Spec = (typeof PARAM_SPECS)[keyof Params];

function fieldArb(spec: Spec): fc.Arbitrary<unknown> {
  switch (spec.kind) {
    case 'int':
      return fc.integer({ min: spec.min, max: spec.max });
    case 'enum':
      return fc.constantFrom(...spec.values);
    case 'bool':
      return fc.boolean();
  }
}

/**
 * Params as the page can hold them, across the full range of every field (generated from PARAM_SPECS,
 * so a new field is fuzzed without editing the tests): a preset's shape applied, cross-field rules fixed.
 */
export const validParams: fc.Arbitrary<Params> = fc
  .record(Object.fromEntries(PARAM_KEYS.map((k) => [k, fieldArb(PARAM_SPECS[k])])) as Record<keyof Params, fc.Arbitrary<unknown>>)
  .map((raw) => {
    let p: Params = { ...DEFAULT_PARAMS, ...(raw as unknown as Params) };
    if (p.model !== 'custom') p = applyModelPreset(p, p.model);
    checkConsistency(p);
    return p;
  });

/** View state as the page holds it (step is 0-based inside, 1-based in the URL, so at most MAX_URL_STEP − 1). */
export const validView: fc.Arbitrary<ViewState> = fc.record({
  step: fc.integer({ min: 0, max: MAX_URL_STEP - 1 }),
  embed: fc.boolean(),
  theme: fc.constantFrom(...THEMES),
  autoplay: fc.boolean(),
  loop: fc.boolean(),
  panel: fc.boolean(),
  present: fc.boolean(),
  ink: fc.constantFrom(...INKS),
}).map((v) => ({ ...DEFAULT_VIEW, ...v }));

/** Names that break naive parsers: Object.prototype members and prototype-pollution paths. */
export const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__proto__.polluted',
  '__proto__[polluted]',
  'constructor.prototype.polluted',
  'constructor[prototype][polluted]',
] as const;

/** A value as a hostile link carries it: any unicode (lone surrogates included) or near-valid. */
export const hostileValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', '-5', '0', '1e400', 'NaN', 'Infinity', '128k', '1.5M', '12.5', '0x10', '<img src=x onerror=alert(1)>', '%00', '%', '&', '=', '#'),
);

/** A 100 KB value: repeated unicode (lone surrogates, emoji, URL syntax) or the regex-backtracking shape. */
export const hugeValue: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(fc.array(fc.constantFrom('x', '9', 'é', '😀', '\uD800', '\uDC00', '+', ' ', '%', '&', '=', '<'), { minLength: 1, maxLength: 3 }), fc.integer({ min: 100_000, max: 102_400 }))
    .map(([chars, n]) => chars.join('').repeat(Math.ceil(n / chars.join('').length)).slice(0, n)),
  fc.tuple(fc.constantFrom('1', '9', ' ', '+'), fc.integer({ min: 100_000, max: 102_400 })).map(([c, n]) => `1${c.repeat(n)}x`),
);

/** A key: one the app reads, a hostile one, or anything. */
export const urlKey = (known: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known) }, { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_KEYS) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) });

/** A query/hash text from pairs (keys may repeat), encoded as a browser would, or raw. */
export const hostileQuery = (known: readonly string[], value: fc.Arbitrary<string> = hostileValue, maxPairs = 12): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.tuple(urlKey(known), value), { maxLength: maxPairs }).map((pairs) => new URLSearchParams(pairs).toString()) },
    { weight: 1, arbitrary: fc.array(fc.tuple(urlKey(known), value), { maxLength: maxPairs }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
