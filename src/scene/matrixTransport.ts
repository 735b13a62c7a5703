// The work matrix (matrix.ts) built in a worker and handed to the page by transfer. Building it
// reads every forward step's compute tiles (and the owners pass spreads each one over the cells):
// at 64 ranks that was most of the page's first frame after a parameter change. Packed, it is a few
// typed arrays: the per-cell totals, owners and sharers, the work per rank, and every forward
// step's cumulative row (F × n² float32: ≤ 64 × 4,096 cells, 1 MB), so cumAt is a lookup.

import { buildWorkMatrix, type WorkMatrix } from './matrix.ts';
import { matrixCells } from './layout.ts';
import type { ValidSchedule } from '../model/schedule.ts';

export interface PackedWorkMatrix {
  readonly n: number;
  readonly ranks: number;
  readonly steps: readonly number[];
  readonly total: Float64Array;
  readonly owner: Int16Array;
  readonly sharers: Int16Array;
  readonly perRank: Float64Array;
  /** cumAt(f) for f = 0..F−1, row after row. */
  readonly cumulative: Float32Array;
}

/** The scene's work matrix of `schedule`, every lazy part computed (in the worker). */
export function packWorkMatrix(schedule: ValidSchedule): PackedWorkMatrix {
  const m = buildWorkMatrix(schedule, matrixCells(schedule.seq, schedule.ranks));
  const n2 = m.n * m.n;
  const cumulative = new Float32Array(m.steps.length * n2);
  for (let f = 0; f < m.steps.length; f++) cumulative.set(m.cumAt(f), f * n2);
  return { n: m.n, ranks: m.ranks, steps: m.steps, total: m.total, owner: m.owner, sharers: m.sharers, perRank: m.perRank, cumulative };
}

export function packedTransferables(p: PackedWorkMatrix): ArrayBuffer[] {
  return [p.total.buffer, p.owner.buffer, p.sharers.buffer, p.perRank.buffer, p.cumulative.buffer] as ArrayBuffer[];
}

/** A WorkMatrix reading the packed arrays (what buildWorkMatrix would return for the same schedule). */
export function unpackWorkMatrix(p: PackedWorkMatrix): WorkMatrix {
  const n2 = p.n * p.n;
  const F = p.steps.length;
  const none = new Float32Array(n2);
  let first: Int16Array | null = null;
  return {
    n: p.n,
    ranks: p.ranks,
    steps: p.steps,
    total: p.total,
    owner: p.owner,
    sharers: p.sharers,
    perRank: p.perRank,
    cumAt: (fIn: number) => {
      const f = Math.min(F - 1, Math.max(-1, Math.floor(fIn)));
      return f < 0 ? none : p.cumulative.subarray(f * n2, (f + 1) * n2);
    },
    get first() {
      if (!first) {
        first = new Int16Array(n2).fill(-1);
        for (let f = F - 1; f >= 0; f--) {
          const row = p.cumulative.subarray(f * n2, (f + 1) * n2);
          for (let c = 0; c < n2; c++) if ((row[c] as number) > 0) first[c] = f;
        }
      }
      return first;
    },
  };
}
