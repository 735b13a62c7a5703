// Every parser of user text runs in linear time (issue 13, item 1). Budgets are ratios to a short
// value's time measured in the same run, so they hold on a slow or busy machine:
// - a field value is capped before it is looked at, so 1 MB costs at most 50× a short value;
// - a whole URL is parsed once, so 1 MB costs at most 50× its size ratio to a 1 KB URL
//   (a quadratic parser would cost ~1000× that). Allowance 50× per byte: a 1 KB URL parses cache-hot.
import { describe, expect, it } from 'vitest';
import { MAX_VALUE_LENGTH, PARAM_KEYS, parseField, parseParams, parseTokenCount } from './params.ts';
import { parseUrlState } from '../ui/urlState.ts';
import { parseArgs } from '../cli/plan.ts';
import { timeRatio } from '../testing/linearTime.ts';

const MB = 1 << 20;
const FIELD_BUDGET = 50;
const catching = (f: () => unknown) => {
  try {
    return f();
  } catch (e) {
    return e;
  }
};

// The shapes that made the old regex backtrack (issue 13: "1" + 100,000 "+" or spaces + "x"), and plain bulk.
const hostile = (n: number): string[] => ['1' + '+'.repeat(n) + 'x', '1' + ' '.repeat(n) + 'x', '1'.repeat(n), '1.' + '1'.repeat(n) + 'k', 'é😀'.repeat(n / 3)];

describe('field parsers: 1 MB values cost at most 50× a short value', () => {
  it('parseTokenCount', () => {
    for (const long of hostile(MB)) {
      const m = timeRatio(parseTokenCount, '128k', long);
      expect(m.ratio, `${long.slice(0, 8)}…: ${m.longMs.toFixed(5)} ms vs ${m.shortMs.toFixed(5)} ms`).toBeLessThan(FIELD_BUDGET);
    }
  });
  it('parseField for every field, with an error naming the field', () => {
    const long = hostile(MB)[0] as string;
    for (const key of PARAM_KEYS) {
      const r = parseField(key, long);
      expect('issue' in r && r.issue.message).toMatch(new RegExp(`\\(${key}\\) is ${long.length} characters long; at most ${MAX_VALUE_LENGTH} are accepted, using `));
      const m = timeRatio((t) => parseField(key, t), '8', long);
      expect(m.ratio, `${key}: ${m.longMs.toFixed(5)} ms vs ${m.shortMs.toFixed(5)} ms`).toBeLessThan(FIELD_BUDGET);
    }
  });
  it('CLI values (plan --seq)', () => {
    for (const long of hostile(MB)) {
      const m = timeRatio((t) => catching(() => parseArgs(['--seq', t])), '128k', long);
      expect(m.ratio).toBeLessThan(FIELD_BUDGET);
    }
  });
});

describe('whole-URL parsers: linear in the URL length', () => {
  // Three hostile fields (issue 13 measured 33–45 s for this shape at 100 KB each), and 1 MB of distinct keys.
  const urls = (n: number): string[] => [
    `#seq=${hostile(n / 3)[0]}&execSeq=${hostile(n / 3)[1]}&ranks=${hostile(n / 3)[2]}`,
    '#' + Array.from({ length: Math.floor(n / 12) }, (_, i) => `k${i.toString(36).padStart(6, '0')}=1&`).join(''),
    `#step=${'9'.repeat(n)}&theme=${'x'.repeat(n / 2)}`,
  ];
  const short = urls(1024);
  const long = urls(MB);
  // 50× per byte, not 10×: a 1 KB URL parses cache-hot while a 1 MB one is memory-bound (13× per byte
  // measured on a busy 2-core host); a quadratic parser would be ~1000× per byte over.
  it.each([0, 1, 2])('parseUrlState / parseParams, shape %i: 1 MB ≤ 50 × (1 MB / 1 KB) × the 1 KB time', (i) => {
    const sizeRatio = (long[i] as string).length / (short[i] as string).length;
    for (const parse of [(t: string) => parseUrlState('', t), (t: string) => parseParams(t)]) {
      const m = timeRatio(parse, short[i] as string, long[i] as string, 3);
      expect(m.ratio, `${m.longMs.toFixed(3)} ms vs ${m.shortMs.toFixed(5)} ms, size ratio ${sizeRatio.toFixed(0)}`).toBeLessThan(50 * sizeRatio);
    }
    const r = parseUrlState('', long[i] as string);
    if (i !== 1) expect(r.issues.length).toBeGreaterThan(0);
  });
});

describe('test of the test: the ratio check catches a quadratic parser', () => {
  // The regex parseTokenCount had before this fix (issue 13, item 1).
  const oldParse = (text: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmM]?)\s*$/.exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  it('the old regex on a 5 KB value is far over the 50× budget', () => {
    const m = timeRatio(oldParse, '128k', '1' + ' '.repeat(5000) + 'x', 3, 2);
    expect(m.ratio).toBeGreaterThan(FIELD_BUDGET);
  });
});
