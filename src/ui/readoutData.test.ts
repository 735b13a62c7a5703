import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, type Params } from '../model/params.ts';
import { plan } from '../model/plan.ts';
import { formatBytes, formatFlops, formatRatio, formatSeconds } from '../model/format.ts';
import { balanceSummary, commSummary, formatRange, gb, mb, memoryData, memorySummary, timelineSummary } from './readoutData.ts';
import { niceTicks } from './charts.ts';
import { embedSnippet, embedUrl, escapeAttribute, pngFilename } from './share.ts';
import { DEFAULT_VIEW, parseUrlState } from './urlState.ts';

const base: Params = { ...DEFAULT_PARAMS };

describe('readout formatting', () => {
  it('prints memory in the CLI table units (GB, 2 decimals) and comm in MB', () => {
    expect(gb(16.06e9)).toBe('16.06 GB');
    expect(gb(0)).toBe('0 B');
    expect(mb(469_762_048)).toBe('469.76 MB');
    // Units scale (issue 11): never "40689.16 MB".
    expect(mb(40_689.16e6)).toBe('40.69 GB');
    expect(gb(537e6)).toBe('537.00 MB');
    expect(mb(999.999e6)).toBe('1.00 GB');
    expect(formatRange([1e9, 1e9], formatBytes)).toBe('1.00 GB');
    expect(formatRange([1e9, 2e9], formatBytes)).toBe('1.00 GB – 2.00 GB');
    // Ends that print the same collapse to one value.
    expect(formatRange([56.91e9, 56.94e9], formatBytes)).toBe('56.9 GB');
    expect(formatRange([], formatBytes)).toBe('–');
  });

  it('summarises memory with the plan’s numbers, formatted by format.ts', () => {
    const p = plan(base);
    const data = memoryData(p, 0);
    const s = memorySummary(data);
    const peaks = p.perRank.map((r) => r.memory.peak);
    expect(s.peak).toBe(formatRange(peaks, formatBytes));
    expect(s.capacity).toBe(formatBytes(p.gpu.memoryBytes));
    expect(s.baseline).toBe(formatBytes(p.baseline.memory.peak));
    const weights = s.rows.find((r) => r.category === 'weights');
    expect(weights?.value).toBe(gb(p.perRank[0]?.memory.weights ?? NaN));
    expect(s.aria).toContain('Memory per rank at peak');
    // "now" follows the playback step.
    const last = p.schedule.valid ? p.schedule.steps.length - 1 : 0;
    expect(memoryData(p, last).ranks[0]?.now).toBe(p.perRank[0]?.memoryByStep[last]);
    // The stacked categories at the peak step sum to the peak.
    const r0 = data.ranks[0];
    if (!r0) throw new Error('no rank');
    const sum = Object.values(r0.atPeak).reduce((a, x) => a + x, 0);
    expect(Math.abs(sum - r0.peak)).toBeLessThanOrEqual(1);
  });

  it('lists communication by collective kind, uniform for the ring', () => {
    const p = plan(base);
    const c = commSummary(p);
    expect(c.rows.map((r) => r.kind)).toEqual(['send/recv (ring)']);
    expect(c.uniform).toBe(true);
    expect(c.total.forward).toBe(mb(p.perRank[0]?.commBytesPerLayer.forward ?? NaN));
    const ulysses = commSummary(plan({ ...base, strategy: 'ulysses' }));
    expect(ulysses.rows.map((r) => r.kind)).toContain('all-to-all');
    const one = commSummary(plan({ ...base, ranks: 1 }));
    expect(one.rows).toEqual([]);
    expect(one.aria).toMatch(/No communication/);
  });

  it('states the ring overlap condition and the balance ratio', () => {
    const p = plan(base);
    const t = timelineSummary(p);
    expect(t.forward).toBe(formatSeconds(p.timeline.forward));
    expect(t.overlapOk).toBe(p.overlap.hides);
    expect(t.overlap).toMatch(/Ring block/);
    expect(t.overlap).toMatch(p.overlap.hides ? /^Communication hides/ : /^Communication is exposed/);
    // The all-gather has no ring, but the verdict (from the timeline) is still stated.
    const ag = plan({ ...base, strategy: 'allgather' });
    expect(timelineSummary(ag).overlap).toMatch(/^Communication is exposed/);
    expect(timelineSummary(ag).overlapOk).toBe(false);
    expect(timelineSummary(plan({ ...base, ranks: 1 })).overlap).toBe('');
    const b = balanceSummary(p);
    expect(b.ratio).toBe(formatRatio(p.balance.maxOverMean));
    expect(b.range).toBe(formatRange(p.balance.perRankFlops, formatFlops));
    expect(p.balance.maxOverMean).toBeGreaterThan(1.5); // contiguous ring is imbalanced
    expect(balanceSummary(plan({ ...base, strategy: 'zigzag' })).ratio).toBe('1.00×');
    // Ideal beside measured (ring-flash-attention README, 8×H800, fwd+bwd).
    expect(b.ideal).toBe(`${((1 / p.balance.maxOverMean) * 100).toFixed(1)}%`);
    const zz = balanceSummary(plan({ ...base, strategy: 'zigzag', ranks: 8 }));
    expect(zz.ideal).toBe('100.0%');
    expect(zz.measured).toBe('90.2%');
    expect(zz.measuredSource).toMatch(/ring-flash-attention README/);
    expect(balanceSummary(plan({ ...base, strategy: 'ulysses', ranks: 8 })).measured).toBe('');
  });

  it('picks round axis ticks', () => {
    expect(niceTicks(230, 4)).toEqual([0, 100, 200]);
    expect(niceTicks(90, 4)).toEqual([0, 25, 50, 75]);
    expect(niceTicks(0)).toEqual([0]);
  });
});

describe('sharing', () => {
  it('escapes attribute text', () => {
    expect(escapeAttribute('a&b"c<d>')).toBe('a&amp;b&quot;c&lt;d&gt;');
  });

  it('builds an embed URL that restores the state, with embed in the query', () => {
    const params: Params = { ...base, strategy: 'zigzag', seq: 262144, ranks: 16 };
    const url = embedUrl('https://example.org/shardscope/', params, { ...DEFAULT_VIEW, step: 4, theme: 'light' });
    expect(url.startsWith('https://example.org/shardscope/?embed=1#strategy=zigzag&seq=256K&ranks=16')).toBe(true);
    const u = new URL(url);
    const back = parseUrlState(u.search, u.hash);
    expect(back.params).toEqual(params);
    expect(back.view.embed).toBe(true);
    expect(back.view.step).toBe(4);
    expect(back.view.theme).toBe('light');
  });

  it('gives an iframe snippet with escaped src and title', () => {
    const code = embedSnippet('https://example.org/', base, { ...DEFAULT_VIEW });
    expect(code).toMatch(/^<iframe src="https:\/\/example\.org\/\?embed=1#strategy=ring&amp;seq=128K&amp;ranks=8" title="Shardscope: Ring attention, 128K tokens on 8 ranks, Llama 3 8B"/);
    expect(code).toContain('aspect-ratio:16/9');
    expect(code.endsWith('></iframe>')).toBe(true);
  });

  it('names the PNG after the state', () => {
    expect(pngFilename(base, 2)).toBe('shardscope-ring-128K-8ranks-step3.png');
  });
});
