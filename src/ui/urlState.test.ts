import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, type Params } from '../model/params.ts';
import { clampStep, DEFAULT_VIEW, mergeLocation, parseUrlState, serializeUrlState, type ViewState } from './urlState.ts';
import { nearestStopIndex, powersOfTwo, SEQ_MAX, SEQ_MIN, SEQ_STOPS, seqLabel, stopValue } from './seqScale.ts';

describe('URL state codec', () => {
  it('writes readable keys with strategy, seq and ranks first', () => {
    const text = serializeUrlState({ ...DEFAULT_PARAMS }, { ...DEFAULT_VIEW });
    expect(text).toBe('strategy=ring&seq=128K&ranks=8');
  });

  it('round-trips params and view state', () => {
    const params: Params = { ...DEFAULT_PARAMS, strategy: 'usp', seq: 1048576, ranks: 16, ulysses: 4, dtype: 'fp16', flash: false, recompute: 'full', zero: 3, dp: 8, gpu: 'b200', execSeq: 512, seed: 7, localMask: true, microBatch: 2 };
    const view: ViewState = { step: 5, embed: true, theme: 'transparent', autoplay: true, loop: false, panel: true, present: true, ink: 'dark' };
    const text = serializeUrlState(params, view);
    expect(text).toContain('seq=1M');
    const back = parseUrlState('', `#${text}`);
    expect(back.issues).toEqual([]);
    expect(back.params).toEqual(params);
    expect(back.view).toEqual(view);
  });

  it('round-trips a custom model shape', () => {
    const params: Params = { ...DEFAULT_PARAMS, model: 'custom', layers: 12, hidden: 768, heads: 12, kvHeads: 4, headDim: 64, vocab: 50257, ffnHidden: 3072 };
    const back = parseUrlState('', serializeUrlState(params, { ...DEFAULT_VIEW }));
    expect(back.issues).toEqual([]);
    expect(back.params).toEqual(params);
  });

  it('round-trips a preset model without listing its shape', () => {
    const params: Params = { ...DEFAULT_PARAMS, model: 'gpt3-175b', layers: 96, hidden: 12288, heads: 96, kvHeads: 96, headDim: 128, vocab: 50257, ffnHidden: 49152 };
    const text = serializeUrlState(params, { ...DEFAULT_VIEW });
    expect(text).toBe('strategy=ring&seq=128K&ranks=8&model=gpt3-175b');
    expect(parseUrlState('', text).params).toEqual(params);
  });

  it('reads the query and the hash, the hash winning', () => {
    const q = mergeLocation('?embed&ranks=4', '#ranks=16&theme=light');
    expect(q.get('ranks')).toBe('16');
    expect(q.get('embed')).toBe('');
    const s = parseUrlState('?embed', '#strategy=zigzag&seq=32k&ranks=4&theme=light');
    expect(s.view.embed).toBe(true);
    expect(s.view.theme).toBe('light');
    expect(s.params.strategy).toBe('zigzag');
    expect(s.params.seq).toBe(32768);
    expect(s.params.ranks).toBe(4);
  });

  it('can leave out keys the query already carries', () => {
    const text = serializeUrlState({ ...DEFAULT_PARAMS }, { ...DEFAULT_VIEW, embed: true }, ['embed']);
    expect(text).not.toContain('embed');
  });

  it('turns bad values into issues naming the field and range, and sane values', () => {
    const s = parseUrlState('', '#strategy=warp&seq=-5&ranks=abc&step=-1&theme=pink&loop=maybe&embed=2');
    const fields = s.issues.map((i) => i.field).sort();
    expect(fields).toEqual(['embed', 'loop', 'ranks', 'seq', 'step', 'strategy', 'theme']);
    expect(s.params.strategy).toBe(DEFAULT_PARAMS.strategy);
    expect(s.params.seq).toBe(DEFAULT_PARAMS.seq);
    expect(s.params.ranks).toBe(DEFAULT_PARAMS.ranks);
    expect(s.view).toEqual(DEFAULT_VIEW);
    const seq = s.issues.find((i) => i.field === 'seq');
    expect(seq?.message).toMatch(/from 1 to/);
    expect(s.issues.find((i) => i.field === 'theme')?.message).toMatch(/dark, light, transparent/);
    expect(s.issues.find((i) => i.field === 'step')?.message).toMatch(/step must be an integer/);
  });

  it('never throws on hostile input and quotes it only as text', () => {
    const s = parseUrlState('?%E0%A4%A', '#ranks=<img src=x onerror=alert(1)>&step=1e400&&&=&seq=');
    expect(s.params.ranks).toBe(DEFAULT_PARAMS.ranks);
    expect(s.view.step).toBe(0);
    expect(s.issues.length).toBeGreaterThan(0);
  });

  it('numbers the URL step from 1, like the on-screen counter', () => {
    expect(parseUrlState('', '#step=3').view.step).toBe(2);
    expect(serializeUrlState({ ...DEFAULT_PARAMS }, { ...DEFAULT_VIEW, step: 2 })).toContain('step=3');
    expect(parseUrlState('', '#step=0').issues.find((i) => i.field === 'step')?.message).toMatch(/from 1/);
  });

  it('clamps a step beyond the schedule with an issue', () => {
    expect(clampStep(3, 10)).toEqual({ step: 3 });
    const c = clampStep(40, 10);
    expect(c.step).toBe(9);
    expect(c.issue?.message).toMatch(/from 1 to 10/);
    expect(clampStep(0, 0).step).toBe(0);
  });
});

describe('sequence-length scale', () => {
  it('runs from 1K to 10M in increasing nice stops', () => {
    expect(SEQ_STOPS[0]).toBe(SEQ_MIN);
    expect(SEQ_STOPS[SEQ_STOPS.length - 1]).toBe(SEQ_MAX);
    for (let i = 1; i < SEQ_STOPS.length; i++) expect(SEQ_STOPS[i]).toBeGreaterThan(SEQ_STOPS[i - 1] as number);
    expect(SEQ_STOPS).toContain(131072);
    expect(SEQ_STOPS).toContain(1048576);
  });

  it('labels like 128K, 1.5K, 10M', () => {
    expect(seqLabel(131072)).toBe('128K');
    expect(seqLabel(1536)).toBe('1.5K');
    expect(seqLabel(3 * 1024 * 1024)).toBe('3M');
    expect(seqLabel(1.5 * 1024 * 1024)).toBe('1.5M');
    expect(seqLabel(10 * 1024 * 1024)).toBe('10M');
    expect(seqLabel(1000)).toBe('1000');
    expect(seqLabel(100000)).toBe('100000');
  });

  it('finds the nearest stop on a log scale and maps back', () => {
    expect(stopValue(nearestStopIndex(131072))).toBe(131072);
    expect(stopValue(nearestStopIndex(100000))).toBe(98304);
    expect(stopValue(nearestStopIndex(1))).toBe(SEQ_MIN);
    expect(stopValue(nearestStopIndex(1e9))).toBe(SEQ_MAX);
    expect(stopValue(-3)).toBe(SEQ_MIN);
    expect(stopValue(1e6)).toBe(SEQ_MAX);
  });

  it('gives powers of two for the rank shortcuts', () => {
    expect(powersOfTwo(64)).toEqual([1, 2, 4, 8, 16, 32, 64]);
  });
});
