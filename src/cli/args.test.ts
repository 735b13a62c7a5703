// The shared flag parser: both syntaxes, switches, own-property lookups, length caps, linear time.
import { describe, expect, it } from 'vitest';
import { MAX_ARG_LENGTH, ownValue, parseFlags, UsageError } from './args.ts';
import { timeRatio } from '../testing/linearTime.ts';

const spec = { values: ['seq', 'kv-heads', 'out'], switches: ['flash', 'json'] };
const parse = (...argv: string[]) => parseFlags(argv, spec);
const refuse = (...argv: string[]) => () => parse(...argv);

// Every member of Object.prototype, plus the names that pollute prototypes.
const PROTOTYPE_NAMES = [...Object.getOwnPropertyNames(Object.prototype), 'prototype', '__proto__'];

describe('parseFlags', () => {
  it('accepts --name value and --name=value, the last one winning', () => {
    const f = parse('--seq', '128k', '--kv-heads=8', '--seq=1M', '--out', '-x.npy');
    expect(Object.fromEntries(f.values)).toEqual({ seq: '1M', 'kv-heads': '8', out: '-x.npy' });
    expect(parse('--seq=').values.get('seq')).toBe('');
    expect(parse('--seq=a=b').values.get('seq')).toBe('a=b');
  });
  it('switches: bare, =value, a following 0/1, --no-', () => {
    expect(parse('--flash').switches.get('flash')).toBe(true);
    expect(parse('--flash=0').switches.get('flash')).toBe(false);
    expect(parse('--flash=ON').switches.get('flash')).toBe(true);
    expect(parse('--flash', 'false').switches.get('flash')).toBe(false);
    expect(parse('--no-flash').switches.get('flash')).toBe(false);
    expect(parse('--json', '--seq', '1').switches.get('json')).toBe(true);
    expect(parse('-h').help).toBe(true);
  });
  it('errors name the flag and the accepted syntax', () => {
    expect(refuse('--seq')).toThrow(/--seq needs a value: write --seq VALUE or --seq=VALUE/);
    expect(refuse('--seq', '--json')).toThrow(/--seq needs a value/);
    expect(refuse('--flash=maybe')).toThrow(/--flash is a switch: write --flash, --flash=1 or --flash=0/);
    expect(refuse('--no-flash=1')).toThrow(/--no-flash takes no value/);
    expect(refuse('--frobnicate=1')).toThrow(/unknown flag --frobnicate; known flags: --seq --kv-heads --out --flash --json; flags are written --name value or --name=value/);
    expect(refuse('seq', '4')).toThrow(/unexpected argument "seq"; flags are written/);
    expect(refuse('--flash', 'maybe')).toThrow(/unexpected argument "maybe"/);
  });
  it.each(PROTOTYPE_NAMES)('--%s is an unknown flag in both syntaxes, never an Object.prototype member', (name) => {
    for (const argv of [[`--${name}`, '1'], [`--${name}=1`], [`--no-${name}`]]) {
      let error: unknown;
      try {
        parse(...argv);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(/^unknown flag/);
    }
    expect(ownValue({ seq: 'seq' }, name)).toBeUndefined();
  });
  it('caps the length of every argument before looking at it', () => {
    const long = 'x'.repeat(MAX_ARG_LENGTH + 1);
    expect(refuse('--seq', long)).toThrow(new RegExp(`--seq's value is ${long.length} characters long; at most ${MAX_ARG_LENGTH}`));
    expect(refuse(`--seq=${long}`)).toThrow(/--seq is \d+ characters long/);
    expect(refuse(long)).toThrow(/argument is \d+ characters long/);
    expect(parse('--out', 'y'.repeat(MAX_ARG_LENGTH)).values.get('out')).toHaveLength(MAX_ARG_LENGTH);
  });
  it('runs in linear time: a 1 MB argument costs at most 50× a short one (measured in this run)', () => {
    const swallow = (text: string) => {
      try {
        return parse('--seq', text, `--seq=${text}`, '--flash', text);
      } catch (e) {
        return e;
      }
    };
    const inputs = ['1' + ' '.repeat(1 << 20) + 'x', '1' + '+'.repeat(1 << 20) + 'x', '-'.repeat(1 << 20), '--' + 'a'.repeat(1 << 20)];
    for (const long of inputs) {
      const m = timeRatio(swallow, '128k', long);
      expect(m.ratio, `1 MB took ${m.longMs.toFixed(4)} ms vs ${m.shortMs.toFixed(4)} ms`).toBeLessThan(50);
    }
  });
});
