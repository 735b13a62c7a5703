// Text boxes of the scene overlay, measured from the DOM: every visible label, the title, the
// caption row, the panel's blocks and the controls. Returns the pairs that overlap and the boxes
// that the frame clips (or that an ellipsis cuts), as readable strings (empty when all is well).
import type { Page } from '@playwright/test';

/** Waits until the overlay's labels stop moving (a resize relays them out on a later frame). */
export async function settleLabels(page: Page): Promise<void> {
  const signature = (): Promise<string> =>
    page.evaluate(async () => {
      // Two frames: a resize is laid out on the frame after the ResizeObserver fires.
      await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
      return [...document.querySelectorAll('#scene-overlay .ss-label, #scene-overlay .ss-caption-row, #scene-overlay .ss-legend-key')]
        .map((e) => {
          const r = e.getBoundingClientRect();
          return `${Math.round(r.left)},${Math.round(r.top)},${Math.round(r.width)}`;
        })
        .join(';');
    });
  let before = await signature();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(250);
    const now = await signature();
    if (now === before) return;
    before = now;
  }
}

export async function overlappingLabels(page: Page): Promise<string[]> {
  await settleLabels(page);
  return page.evaluate(() => {
    interface Box {
      name: string;
      x0: number;
      y0: number;
      x1: number;
      y1: number;
    }
    const boxes: Box[] = [];
    const problems: string[] = [];
    const W = document.documentElement.clientWidth;
    const H = document.documentElement.clientHeight;
    const visible = (e: Element): boolean => {
      const he = e as HTMLElement;
      if (he.hidden || he.closest('[hidden]')) return false;
      const cs = getComputedStyle(he);
      return cs.display !== 'none' && cs.visibility !== 'hidden' && Number(cs.opacity) > 0;
    };
    /** The box of the element's text (a Range over its contents), so padding and empty width do not count. */
    const textBox = (e: Element): DOMRect | null => {
      const range = document.createRange();
      range.selectNodeContents(e);
      const r = range.getBoundingClientRect();
      if (r.width < 0.5 || r.height < 0.5) return null;
      // An ellipsis-clipped element: its own box bounds what is drawn.
      const own = e.getBoundingClientRect();
      if ((e as HTMLElement).scrollWidth > (e as HTMLElement).clientWidth + 1 && getComputedStyle(e).overflow === 'hidden') return own;
      return r;
    };
    const add = (e: Element, name: string): void => {
      if (!visible(e) || !(e.textContent ?? '').trim()) return;
      const r = textBox(e);
      if (!r) return;
      boxes.push({ name: `${name} "${(e.textContent ?? '').trim().slice(0, 40)}"`, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom });
      const he = e as HTMLElement;
      if (he.classList.contains('ss-fit') && he.scrollWidth > he.clientWidth + 1) problems.push(`cut by an ellipsis: ${name} "${(e.textContent ?? '').slice(0, 40)}"`);
    };
    document.querySelectorAll('#scene-overlay .ss-label').forEach((e) => add(e, 'label'));
    document.querySelectorAll('#scene-overlay .ss-header').forEach((e) => add(e, 'header'));
    document.querySelectorAll('#scene-overlay .ss-caption-row').forEach((e) => add(e, 'caption'));
    document.querySelectorAll('#scene-overlay .ss-panel > *').forEach((e) => add(e, 'panel'));
    document.querySelectorAll('#scene-overlay .ss-present > *').forEach((e) => add(e, 'present'));
    document.querySelectorAll('#scene-overlay .ss-legend-key > *').forEach((e) => add(e, 'legend'));
    document.querySelectorAll('#scene-overlay .ss-counter, #scene-overlay .ss-notes-btn').forEach((e) => add(e, 'control'));
    const EPS = 0.75;
    for (const b of boxes) {
      if (b.x0 < -EPS || b.y0 < -EPS || b.x1 > W + EPS || b.y1 > H + EPS) problems.push(`clipped by the frame: ${b.name} at ${Math.round(b.x0)},${Math.round(b.y0)}–${Math.round(b.x1)},${Math.round(b.y1)}`);
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i] as Box;
        const b = boxes[j] as Box;
        const ox = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
        const oy = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
        if (ox > EPS && oy > EPS) problems.push(`overlap: ${a.name} × ${b.name}`);
      }
    }
    return problems;
  });
}
