import { describe, expect, it } from 'vitest';
import { parseParams } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import { computeLayout } from './layout.ts';
import { footerHeight, presentation } from './presentation.ts';

describe('presentation sizes', () => {
  it('captions are at least 3% of the frame height at 960×540, and type grows with the frame', () => {
    const p540 = presentation(true, { w: 960, h: 540 }, { w: 960, h: 405 });
    expect(p540.captionPx).toBeGreaterThanOrEqual(0.03 * 540);
    const p360 = presentation(true, { w: 640, h: 360 }, { w: 640, h: 360 });
    const p720 = presentation(true, { w: 1280, h: 720 }, { w: 1280, h: 550 });
    expect(p360.k).toBe(1);
    expect(p540.k).toBeGreaterThan(1.15);
    expect(p720.k).toBeGreaterThan(p540.k);
    expect(p720.captionPx).toBeGreaterThanOrEqual(0.03 * 720);
    expect(presentation(false, { w: 1280, h: 720 }, { w: 1280, h: 720 }).k).toBe(1);
  });

  it('a slide shows a one-line caption footer, and the layout leaves the lanes room at 640×360', () => {
    const s = buildSchedule(parseParams('#strategy=zigzag&seq=128K&ranks=8').params);
    if (!s.valid) throw new Error(s.reason);
    for (const [w, h] of [
      [640, 360],
      [960, 540],
      [1280, 720],
    ] as const) {
      const p = presentation(true, { w, h }, { w, h });
      const f = footerHeight(p, true, w, s, null);
      // One or two caption lines plus the controls row.
      expect(f).toBeLessThanOrEqual(Math.ceil(4 + 2 * p.captionPx * 1.28 + 4 + 26 * p.k + 8));
      const L = computeLayout(w, h, s.shards.map((x) => x.node), { footerH: f, textScale: p.k, panel: p.panel });
      const lanesH = (L.lanes.at(-1)?.y ?? 0) + (L.lanes.at(-1)?.h ?? 0) - (L.lanes[0]?.y ?? 0);
      expect(lanesH).toBeGreaterThan(h * 0.3);
      // Nothing of the stage reaches into the footer.
      expect(L.legend.y + L.legend.h).toBeLessThanOrEqual(L.footer.y);
      expect(L.bars.y + L.bars.h).toBeLessThanOrEqual(L.footer.y);
    }
  });
});
