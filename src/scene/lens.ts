// The token zoom lens: the first few dozen tokens of a toy sequence, one cell per token coloured
// by the rank that owns it, so contiguous, zigzag and striped layouts read at a glance at any
// sequence length (the 16-tokens-on-4-GPUs figure of every CP explainer). The rule is the
// schedule's own layout (src/model/layout.ts), applied to 4·P tokens.

import { layoutFor, type LayoutKind } from '../model/layout.ts';
import type { TokenSet } from '../model/schedule.ts';
import type { Rect } from './layout.ts';

/** Which layout rule the shards follow: strided segments → striped, two chunks per rank → zigzag. Pure. */
export function layoutKindOf(shards: readonly TokenSet[]): LayoutKind {
  if (shards.some((set) => set.some((seg) => seg.stride > 1 && seg.count > 1))) return 'striped';
  if (shards.some((set) => set.filter((seg) => seg.count > 0).length > 1)) return 'zigzag';
  return 'contiguous';
}

/** Owner rank of each of the first `shown` tokens of a 4·P-token toy sequence. Pure. */
export function lensOwners(kind: LayoutKind, ranks: number, maxShown = 48): { owners: number[]; seq: number } {
  const P = Math.max(1, ranks);
  const seq = 4 * P;
  const shards = layoutFor(kind, seq, P);
  const owners = new Array<number>(Math.min(seq, maxShown)).fill(-1);
  shards.forEach((set, r) => {
    for (const seg of set) for (let i = 0; i < seg.count; i++) {
      const t = seg.start + i * seg.stride;
      if (t < owners.length) owners[t] = r;
    }
  });
  return { owners, seq };
}

/** Where the lens goes in the legend row (left part), or null when the row is too narrow. Pure. */
export function lensBox(legend: Rect, cells: number, labelW: number): { x: number; y: number; cell: number; w: number } | null {
  const cell = Math.min(8, Math.floor((legend.w * 0.34 - labelW) / Math.max(1, cells)));
  if (cell < 3) return null;
  return { x: legend.x + labelW, y: legend.y + 2, cell, w: labelW + cells * cell };
}
