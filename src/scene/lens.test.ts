import { describe, expect, it } from 'vitest';
import { contiguousLayout, stripedLayout, zigzagLayout } from '../model/layout.ts';
import { layoutKindOf, lensBox, lensOwners } from './lens.ts';

describe('token zoom lens', () => {
  it('recognises the layout rule of the shards', () => {
    expect(layoutKindOf(contiguousLayout(1 << 20, 8))).toBe('contiguous');
    expect(layoutKindOf(zigzagLayout(1 << 20, 8))).toBe('zigzag');
    expect(layoutKindOf(stripedLayout(1 << 20, 8))).toBe('striped');
  });

  it('draws the 16-tokens-on-4-ranks figure', () => {
    expect(lensOwners('contiguous', 4).owners).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(lensOwners('zigzag', 4).owners).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 3, 3, 2, 2, 1, 1, 0, 0]);
    expect(lensOwners('striped', 4).owners).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
  });

  it('shows at most a few dozen tokens at 64 ranks, every one owned', () => {
    const { owners } = lensOwners('zigzag', 64);
    expect(owners).toHaveLength(48);
    expect(owners.every((r) => r >= 0 && r < 64)).toBe(true);
  });

  it('fits the legend row or stays out', () => {
    expect(lensBox({ x: 0, y: 0, w: 600, h: 18 }, 32, 40)?.cell).toBeGreaterThanOrEqual(3);
    expect(lensBox({ x: 0, y: 0, w: 200, h: 18 }, 32, 40)).toBeNull();
  });
});
