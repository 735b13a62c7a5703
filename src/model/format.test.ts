import { describe, expect, it } from 'vitest';
import { formatBytes, formatFlops, formatGB, formatMB, formatPercent, formatRatio, formatSeconds, formatTokens } from './format.ts';

describe('format', () => {
  it('bytes, decimal units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1500)).toBe('1.50 kB');
    expect(formatBytes(512e6)).toBe('512 MB');
    expect(formatBytes(12.3e9)).toBe('12.3 GB');
    expect(formatBytes(80e9)).toBe('80.0 GB');
    expect(formatBytes(999.9e6)).toBe('1.00 GB');
    expect(formatBytes(2.5e12)).toBe('2.50 TB');
  });
  it('fixed GB / MB for tables', () => {
    expect(formatGB(12.345e9)).toBe('12.35');
    expect(formatMB(3.4567e6)).toBe('3.46');
  });
  it('seconds', () => {
    expect(formatSeconds(3.2e-3)).toBe('3.20 ms');
    expect(formatSeconds(45e-6)).toBe('45.0 µs');
    expect(formatSeconds(2.5)).toBe('2.50 s');
    expect(formatSeconds(5e-9)).toBe('5.00 ns');
    expect(formatSeconds(0)).toBe('0 s');
  });
  it('FLOPs', () => {
    expect(formatFlops(1.2e12)).toBe('1.20 TFLOP');
    expect(formatFlops(345e15)).toBe('345 PFLOP');
    expect(formatFlops(12)).toBe('12 FLOP');
  });
  it('tokens', () => {
    expect(formatTokens(131072)).toBe('128K');
    expect(formatTokens(1048576)).toBe('1M');
    expect(formatTokens(10 * 1048576)).toBe('10M');
    expect(formatTokens(1000)).toBe('1000');
    expect(formatTokens(200000)).toBe('195.3K');
  });
  it('ratios and percentages', () => {
    expect(formatRatio(1.0234)).toBe('1.02×');
    expect(formatPercent(0.123)).toBe('12.3%');
  });
});

describe('readout formatting (issue 11)', () => {
  it('formatBytes2 picks the unit: never "40689.16 MB"', async () => {
    const { formatBytes2 } = await import('./format.ts');
    expect(formatBytes2(40_689.16e6)).toBe('40.69 GB');
    expect(formatBytes2(469_762_048)).toBe('469.76 MB');
    expect(formatBytes2(1.2e12)).toBe('1.20 TB');
    expect(formatBytes2(0)).toBe('0 B');
    expect(formatBytes2(512)).toBe('512 B');
    expect(formatBytes2(999_999_999)).toBe('1.00 GB');
  });
  it('countOf is singular for one; formatSpan collapses equal ends', async () => {
    const { countOf, formatSpan, formatBytes } = await import('./format.ts');
    expect(countOf(1, 'GPU')).toBe('1 GPU');
    expect(countOf(8, 'GPU')).toBe('8 GPUs');
    expect(countOf(0, 'rank')).toBe('0 ranks');
    expect(formatSpan(56.91e9, 56.94e9, formatBytes)).toBe('56.9 GB');
    expect(formatSpan(1e9, 2e9, formatBytes)).toBe('1.00 GB – 2.00 GB');
  });
});
