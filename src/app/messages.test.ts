// Message text rules (issue 10, item 5): one sentence each, one final period; benign browser notices filtered.
import { describe, expect, it } from 'vitest';
import { isBenignError, sentence } from './messages.ts';

describe('sentence', () => {
  it('ends in exactly one period, never "..", and keeps ? ! …', () => {
    expect(sentence('This combination cannot run: heads must divide.')).toBe('This combination cannot run: heads must divide.');
    expect(sentence('reason.. ')).toBe('reason.');
    expect(sentence('Unexpected error: OperationError: Instance dropped in popErrorScope')).toBe('Unexpected error: OperationError: Instance dropped in popErrorScope.');
    expect(sentence('Really?')).toBe('Really?');
    expect(sentence('Wait…')).toBe('Wait…');
  });
  it('cuts a huge message to a readable length', () => {
    const s = sentence('x'.repeat(100_000));
    expect(s.length).toBeLessThanOrEqual(601);
    expect(s.endsWith('…')).toBe(true);
  });
});

describe('isBenignError', () => {
  it('recognises the ResizeObserver loop notices and nothing else', () => {
    expect(isBenignError('ResizeObserver loop completed with undelivered notifications.')).toBe(true);
    expect(isBenignError('Uncaught ResizeObserver loop limit exceeded')).toBe(true);
    expect(isBenignError('TypeError: x is undefined')).toBe(false);
  });
});
