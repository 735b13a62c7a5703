// Playback controls on the stage (buttons, scrub range, speed, loop) and the keyboard.
// They only call Playback's methods; the scene reads Playback's position every frame.

import type { Playback } from '../app/playback.ts';
import { setText } from '../ui/dom.ts';

export interface PlaybackControls {
  dispose(): void;
}

function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'ss-btn';
  b.textContent = label;
  b.title = title;
  b.setAttribute('aria-label', title);
  b.addEventListener('click', onClick);
  return b;
}

/** Adds the control bar to `container` (the scene overlay's footer slot). */
export function attachPlaybackControls(container: HTMLElement, playback: Playback): PlaybackControls {
  const bar = document.createElement('div');
  bar.className = 'ss-controls';
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Playback');
  const restart = button('|◀', 'Restart (Home)', () => playback.restart());
  const prev = button('◀', 'Previous step (←)', () => playback.previous());
  const play = button('▶', 'Play / pause (space)', () => playback.toggle());
  play.classList.add('ss-play');
  const next = button('▶|', 'Next step (→)', () => playback.next());
  const scrub = document.createElement('input');
  scrub.type = 'range';
  scrub.className = 'ss-scrub';
  scrub.min = '0';
  scrub.step = '1';
  scrub.setAttribute('aria-label', 'Step');
  scrub.addEventListener('input', () => playback.seek(Number(scrub.value)));
  const speed = document.createElement('select');
  speed.className = 'ss-speed';
  speed.setAttribute('aria-label', 'Speed (steps per second)');
  for (const s of [0.25, 0.5, 1, 2]) {
    const o = document.createElement('option');
    o.value = String(s);
    o.textContent = `${s}×`;
    speed.append(o);
  }
  speed.value = String(playback.speed);
  speed.addEventListener('change', () => {
    playback.speed = Number(speed.value);
  });
  const loopLabel = document.createElement('label');
  loopLabel.className = 'ss-loop';
  loopLabel.title = 'Loop playback';
  const loop = document.createElement('input');
  loop.type = 'checkbox';
  loop.checked = playback.loop;
  loop.addEventListener('change', () => {
    playback.loop = loop.checked;
  });
  loopLabel.append(loop, document.createTextNode(' loop'));
  const counter = document.createElement('span');
  counter.className = 'ss-counter';
  bar.append(restart, prev, play, next, scrub, counter, speed, loopLabel);
  container.append(bar);

  // Writes only what changed: playback notifies on every frame while playing, and each DOM write
  // (a range input's value above all) invalidates style for the next frame.
  let shown = '';
  const sync = (): void => {
    const s = playback.state;
    const key = `${s.playing}|${s.step}|${s.stepCount}`;
    if (key === shown) return;
    shown = key;
    setText(play, s.playing ? '❚❚' : '▶');
    play.setAttribute('aria-pressed', String(s.playing));
    scrub.max = String(Math.max(0, s.stepCount - 1));
    scrub.value = String(s.step);
    setText(counter, `${s.step + 1} / ${s.stepCount}`);
  };
  const unsubscribe = playback.subscribe(sync);
  sync();
  return {
    dispose() {
      unsubscribe();
      bar.remove();
    },
  };
}

/**
 * Space plays/pauses, arrows step, Home restarts, when the page or the canvas has focus
 * (not while typing in an input, select or the lil-gui panel).
 */
export function attachKeyboard(target: Window | HTMLElement, playback: Playback): () => void {
  const onKey = (event: Event): void => {
    const e = event as KeyboardEvent;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const el = e.target as HTMLElement | null;
    const tag = el?.tagName ?? '';
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || el?.isContentEditable) return;
    switch (e.key) {
      case ' ':
      case 'Spacebar':
        if (tag === 'BUTTON') return; // the button's own click handles it
        playback.toggle();
        break;
      case 'ArrowRight':
        playback.next();
        break;
      case 'ArrowLeft':
        playback.previous();
        break;
      case 'Home':
        playback.restart();
        break;
      default:
        return;
    }
    e.preventDefault();
  };
  target.addEventListener('keydown', onKey);
  return () => target.removeEventListener('keydown', onKey);
}

/**
 * Embed mode: messages never overlay the slide. They stay in `root` (hidden), and a small mark
 * in the corner ("⚠ 2") shows that there are some and opens them on click. Errors still reach
 * window.shardscope.errors.
 */
export function attachMessageMark(messages: { subscribe(l: (keys: readonly string[]) => void): () => void }, root: HTMLElement): () => void {
  root.classList.add('ss-msg-folded');
  const mark = document.createElement('button');
  mark.type = 'button';
  mark.className = 'ss-msg-mark';
  mark.hidden = true;
  mark.setAttribute('aria-expanded', 'false');
  mark.addEventListener('click', () => {
    const open = root.classList.toggle('ss-msg-folded') === false;
    mark.setAttribute('aria-expanded', String(open));
  });
  document.body.append(mark);
  const off = messages.subscribe((keys) => {
    mark.hidden = keys.length === 0;
    mark.textContent = `⚠ ${keys.length}`;
    mark.title = `${keys.length} message${keys.length === 1 ? '' : 's'}: click to show or hide`;
    if (keys.length === 0) root.classList.add('ss-msg-folded');
  });
  return () => {
    off();
    mark.remove();
  };
}
