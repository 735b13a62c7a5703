// The URL owner never overwrites a hash that arrived after the state it describes (issue 13, item 3).
import { describe, expect, it } from 'vitest';
import { UrlOwner } from './urlSync.ts';

/** A fake location/history and a manual clock. */
function harness(initial = '#a=1') {
  const host = { hash: initial, writes: 0, replaceHash(h: string) { this.hash = h; this.writes++; } };
  let state = initial.slice(1);
  const applied: string[] = [];
  const timers = new Map<number, () => void>();
  let nextId = 0;
  const owner = new UrlOwner({
    host,
    serialize: () => state,
    onExternal: (hash) => {
      applied.push(hash);
      state = `${hash.slice(1)}&canonical=1`; // the app reads the hash and re-serialises it in its own form
      owner.schedule();
    },
    timers: { set: (fn) => (timers.set(++nextId, fn), nextId), clear: (h) => timers.delete(h as number) },
  });
  const tick = () => {
    const due = [...timers.values()];
    timers.clear();
    for (const fn of due) fn();
  };
  return { host, owner, applied, tick, setState: (s: string) => (state = s), get state() { return state; } };
}

describe('UrlOwner', () => {
  it('writes the latest state once per delay, even under a stream of changes', () => {
    const h = harness();
    h.setState('a=2');
    h.owner.schedule();
    h.owner.schedule();
    expect(h.host.hash).toBe('#a=1');
    h.tick();
    expect(h.host.hash).toBe('#a=2');
    expect(h.host.writes).toBe(1);
  });

  it('a hash set after a state change but before hashchange runs is applied, not overwritten', () => {
    const h = harness();
    h.setState('a=2'); // e.g. a playback step
    h.owner.schedule();
    h.host.hash = '#b=7'; // the user or a host page, before its hashchange event is handled
    h.tick(); // the delayed write fires first: it must not clobber #b=7
    expect(h.applied).toEqual(['#b=7']);
    expect(h.state).toBe('b=7&canonical=1');
    h.tick(); // the write that applying it scheduled
    expect(h.host.hash).toBe('#b=7&canonical=1');
    // The late hashchange event finds nothing new: the hash is applied once.
    expect(h.owner.poll()).toBe(false);
    expect(h.applied).toEqual(['#b=7']);
  });

  it('hashchange first, then the write: applied once, then written in the app form', () => {
    const h = harness();
    h.host.hash = '#c=3';
    expect(h.owner.poll()).toBe(true);
    expect(h.owner.poll()).toBe(false);
    h.tick();
    expect(h.host.hash).toBe('#c=3&canonical=1');
    expect(h.applied).toEqual(['#c=3']);
  });
});
