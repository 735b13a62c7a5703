// Zigzag (load-balanced) ring: the ring of ring.ts over 2P chunks, rank r holding chunks r and
// 2P−1−r. Sources: zhuzilin/ring-flash-attention (zigzag_ring_flash_attn), Megatron-Core's 2·cp
// split, PyTorch context_parallel's head-tail load balancer.

import type { Params } from '../params.ts';
import type { Schedule } from '../schedule.ts';
import { buildRingFamily } from './ring.ts';

export function buildZigzag(params: Params): Schedule {
  return buildRingFamily('zigzag', 'zigzag', params);
}
