// Striped attention (Brandon et al. 2023, "Striped Attention: Faster Ring Attention for Causal
// Transformers"): the ring of ring.ts with token i on rank i mod P.

import type { Params } from '../params.ts';
import type { Schedule } from '../schedule.ts';
import { buildRingFamily } from './ring.ts';

export function buildStriped(params: Params): Schedule {
  return buildRingFamily('striped', 'striped', params);
}
