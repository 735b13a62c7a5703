import { describe, expect, it } from 'vitest';
import { Playback } from './playback.ts';

function make(steps = 5): Playback {
  const p = new Playback();
  p.setStepCount(steps);
  return p;
}

describe('playback', () => {
  it('starts settled on the first step', () => {
    const p = make();
    expect(p.state).toMatchObject({ step: 0, progress: 1, settled: true, playing: false });
  });

  it('Next enters the next step at progress 0, animates it, then holds settled', () => {
    const p = make();
    p.next();
    expect(p.step).toBe(1);
    expect(p.progress).toBe(0);
    expect(p.settled).toBe(false);
    p.advance(0.5);
    expect(p.progress).toBeGreaterThan(0);
    expect(p.progress).toBeLessThan(1);
    for (let i = 0; i < 100; i++) p.advance(1 / 60);
    expect(p.state).toMatchObject({ step: 1, progress: 1, settled: true, playing: false });
    // Holds: more frames do not move on.
    p.advance(10);
    expect(p.step).toBe(1);
  });

  it('the step animation finishes within 1/speed seconds (and at most 1.25 s)', () => {
    const p = make();
    p.next();
    let t = 0;
    while (!p.settled && t < 5) {
      p.advance(1 / 60);
      t += 1 / 60;
    }
    expect(t).toBeLessThanOrEqual(1.25 + 1 / 60 + 1e-9); // one frame of float rounding
  });

  it('previous, seek and restart land on the end state of the step', () => {
    const p = make();
    p.seek(3);
    expect(p.state).toMatchObject({ step: 3, progress: 1, settled: true });
    p.previous();
    expect(p.state).toMatchObject({ step: 2, progress: 1, settled: true });
    p.restart();
    expect(p.state).toMatchObject({ step: 0, settled: true });
    p.seek(99);
    expect(p.step).toBe(4);
    p.next();
    expect(p.state).toMatchObject({ step: 4, settled: true });
  });

  it('reduced motion jumps straight to the end state', () => {
    const p = make();
    p.reducedMotion = true;
    p.next();
    expect(p.state).toMatchObject({ step: 1, progress: 1, settled: true });
  });

  it('play runs the steps continuously and loops', () => {
    const p = make(3);
    p.speed = 1;
    p.play();
    expect(p.step).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      p.advance(1 / 60);
      seen.add(p.step);
    }
    expect([...seen].sort()).toEqual([0, 1, 2]);
    expect(p.playing).toBe(true);
  });

  it('play without loop stops settled on the last step', () => {
    const p = make(3);
    p.loop = false;
    p.speed = 2;
    p.play();
    for (let i = 0; i < 200; i++) p.advance(1 / 60);
    expect(p.state).toMatchObject({ step: 2, playing: false, settled: true });
  });
});
