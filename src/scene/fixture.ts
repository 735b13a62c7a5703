// A small hand-made Schedule for the scene's unit tests and bench: a contiguous K/V ring over P
// ranks (forward and backward) plus the loss steps, built with schedule.ts' helpers only, so the
// scene's tests do not depend on the strategy builders.

import { tilesFor, type Collective, type RankCompute, type Step, type TokenSet, type ValidSchedule } from '../model/schedule.ts';

export function ringFixture(P: number, seq: number, heads = 8, kvHeads = 2, headDim = 64): ValidSchedule {
  const shard = (r: number): TokenSet => {
    const a = Math.floor((r * seq) / P);
    const b = Math.floor(((r + 1) * seq) / P);
    return [{ start: a, count: b - a, stride: 1 }];
  };
  const mod = (x: number): number => ((x % P) + P) % P;
  const steps: Step[] = [];
  const bytes = (tokens: number, h: number): number => tokens * h * headDim * 2;
  const sends = (t: number, tensors: readonly ('K' | 'V' | 'dK' | 'dV')[], offset: number): Collective[] => [
    {
      kind: 'send-recv',
      group: Array.from({ length: P }, (_, r) => r),
      label: `send ${tensors.join(',')} to next rank`,
      transfers: tensors.flatMap((tensor) =>
        Array.from({ length: P }, (_, r) => {
          const tokens = shard(mod(r - t + offset));
          return { src: r, dst: mod(r + 1), tensor, tokens, heads: { start: 0, end: kvHeads }, bytes: bytes(tokens[0]?.count ?? 0, kvHeads) };
        }),
      ),
    },
  ];
  const compute = (t: number): RankCompute[] =>
    Array.from({ length: P }, (_, r) => ({ rank: r, q: shard(r), kv: shard(mod(r - t)), heads: { start: 0, end: heads }, tiles: tilesFor(shard(r), shard(mod(r - t))) }));
  for (let t = 0; t < P; t++) steps.push({ index: 0, phase: 'forward', caption: `ring step ${t}`, collectives: t < P - 1 ? sends(t, ['K', 'V'], 0) : [], compute: compute(t) });
  steps.push({ index: 0, phase: 'loss', caption: 'local cross-entropy', collectives: [], compute: [] });
  steps.push({
    index: 0,
    phase: 'loss',
    caption: 'all-reduce (loss sum, count)',
    collectives: [{ kind: 'all-reduce', group: Array.from({ length: P }, (_, r) => r), label: 'all-reduce loss', transfers: Array.from({ length: P }, (_, r) => ({ src: r, dst: mod(r + 1), tensor: 'loss' as const, tokens: [], heads: { start: 0, end: 0 }, bytes: 8 })) }],
    compute: [],
  });
  for (let t = 0; t < P; t++) {
    const c: Collective[] = [];
    if (t < P - 1) c.push(...sends(t, ['K', 'V'], 0));
    if (t >= 1) c.push(...sends(t, ['dK', 'dV'], 1));
    steps.push({ index: 0, phase: 'backward', caption: `backward ring step ${t}`, collectives: c, compute: compute(t) });
  }
  if (P > 1) steps.push({ index: 0, phase: 'backward', caption: 'dK,dV home', collectives: sends(P, ['dK', 'dV'], 1), compute: [] });
  const numbered = steps.map((s, index) => ({ ...s, index }));
  const shards = Array.from({ length: P }, (_, r) => ({ rank: r, tokens: shard(r), node: Math.floor(r / 8) }));
  return {
    valid: true,
    strategy: 'ring',
    ranks: P,
    seq,
    shards,
    steps: numbered,
    loss: { labelled: shards.map((s, r) => (r === P - 1 ? [{ start: s.tokens[0]?.start ?? 0, count: (s.tokens[0]?.count ?? 1) - 1, stride: 1 }] : s.tokens)) },
  };
}
