// The work the block kernel actually does, counted on the CPU with the kernel's own rules (rows in
// workgroups of WG_Q, keys in tiles of BK, a tile skipped when its smallest key position exceeds the
// workgroup's largest query position, a partial tile costing its keys rounded up to 4). A load-
// independent figure for the benchmark: sharded work / unsharded work, whatever the machine is doing.

import type { ExecPlan } from '../model/execution.ts';
import { positionsOf } from '../model/execution.ts';
import type { TileConfig } from './kernels.ts';

export interface TileWork {
  /** Query-row × key pairs evaluated (masked ones included), summed over heads. */
  readonly pairs: number;
  /** Tiles evaluated (workgroup × K/V tile), summed over heads. */
  readonly tiles: number;
  /** Workgroups launched, summed over heads. */
  readonly workgroups: number;
}

function blockWork(q: Int32Array, kv: Int32Array, tiles: Pick<TileConfig, 'wgQ' | 'bk'>): TileWork {
  let pairs = 0;
  let count = 0;
  let workgroups = 0;
  for (let q0 = 0; q0 < q.length; q0 += tiles.wgQ) {
    workgroups++;
    let qmax = -1;
    for (let i = q0; i < Math.min(q0 + tiles.wgQ, q.length); i++) qmax = Math.max(qmax, q[i] as number);
    for (let k0 = 0; k0 < kv.length; k0 += tiles.bk) {
      const kEnd = Math.min(k0 + tiles.bk, kv.length);
      let kmin = Infinity;
      for (let j = k0; j < kEnd; j++) kmin = Math.min(kmin, kv[j] as number);
      if (kmin > qmax) continue;
      count++;
      pairs += tiles.wgQ * Math.ceil((kEnd - k0) / 4) * 4;
    }
  }
  return { pairs, tiles: count, workgroups };
}

/** Work of every compute of a plan (by global position, as without the local-mask bug). */
export function planWork(plan: ExecPlan, tiles: Pick<TileConfig, 'wgQ' | 'bk'>): TileWork {
  let pairs = 0;
  let count = 0;
  let workgroups = 0;
  for (const step of plan.steps)
    for (const op of step.compute) {
      const w = blockWork(positionsOf(op.qTokens), positionsOf(op.kvTokens), tiles);
      const h = op.heads.end - op.heads.start;
      pairs += w.pairs * h;
      count += w.tiles * h;
      workgroups += w.workgroups * h;
    }
  return { pairs, tiles: count, workgroups };
}

/** Work of the unsharded kernel over `seq` tokens and `heads` heads. */
export function unshardedWork(seq: number, heads: number, tiles: Pick<TileConfig, 'wgQ' | 'bk'>): TileWork {
  const all = Int32Array.from({ length: seq }, (_, i) => i);
  const w = blockWork(all, all, tiles);
  return { pairs: w.pairs * heads, tiles: w.tiles * heads, workgroups: w.workgroups * heads };
}
