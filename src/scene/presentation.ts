// Presentation mode (a slide: ?embed or present=1): how big the type is, how tall the caption
// footer is, and whether the softmax panel has room. Pure, so the sizes for 640×360, 960×540 and
// 1280×720 are unit-tested; index.ts applies them (CSS variables --ss-k, --ss-cap, --ss-round).

import type { ValidSchedule } from '../model/schedule.ts';
import { CAPTION_FONT, CAPTION_LINE, captionWidth } from './captions.ts';
import { textWidth } from './overlay.ts';
import { HEADER_H } from './layout.ts';

export interface Size {
  readonly w: number;
  readonly h: number;
}

export interface Presentation {
  /** Type scale of every overlay text (1 on the full page). */
  readonly k: number;
  /** Caption font in px: on a slide ≥ 3.2% of the frame height (readable from the back of a room). */
  readonly captionPx: number;
  /** The big "ROUND 3 / 8" counter, px: 5% of the frame height, as tall as the header allows. */
  readonly roundPx: number;
  /** Room for the softmax/loss panel (a small slide leaves it out). */
  readonly panel: boolean;
}

/** `frame`: the whole iframe or window; `stage`: the scene's part of it. */
export function presentation(present: boolean, frame: Size, stage: Size): Presentation {
  if (!present) return { k: 1, captionPx: CAPTION_FONT, roundPx: 18, panel: true };
  // 1× at 640×360, ~1.25× at 960×540, 1.7× at 1280×720; never more than the stage can hold.
  const k = Math.max(1, Math.min(1.7, frame.h / 430, frame.w / 760, stage.h / 300));
  return {
    k,
    captionPx: Math.max(CAPTION_FONT, 0.032 * frame.h),
    roundPx: Math.round(Math.max(16, Math.min(0.05 * frame.h, HEADER_H * k - 10))),
    panel: stage.w / k >= 1000 && stage.h / k >= 560,
  };
}

/** Caption + controls footer height for a stage width: the longest caption must fit unclipped. */
export function footerHeight(p: Presentation, present: boolean, width: number, schedule: ValidSchedule | null, invalidReason: string | null): number {
  const avail = Math.max(100, width - 20);
  const font = p.captionPx;
  // textWidth applies the type scale: measure at font / k so the result is at `font`.
  const capW = schedule ? captionWidth(schedule, present, font / p.k) : invalidReason ? textWidth(invalidReason, font / p.k) : 0;
  // Word wrap wastes part of each line; one line on a slide (two at most), up to 7 on the page.
  const lines = Math.max(present ? 1 : 2, Math.min(present ? 2 : 7, Math.ceil((capW * 1.1) / avail)));
  const line = present ? font * 1.28 : CAPTION_LINE;
  return Math.ceil(4 + lines * line + 4 + 26 * p.k + 8);
}
