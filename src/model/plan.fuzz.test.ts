// Property tests of the model (issue 10, "Fuzzing in the suite"): random valid Params across the full
// range of every field (src/testing/arbitraries.ts).
// fast-check shrinks a failure to a small counterexample and prints its seed for a replay.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PARAM_KEYS, parseField, type Params } from './params.ts';
import { validParams } from '../testing/arbitraries.ts';
import { MEMORY_CATEGORIES, plan, replan, SCHEDULE_FIELDS, type Plan } from './plan.ts';
import { buildSchedule } from './strategies/index.ts';
import type { HeadRange, TokenSet, ValidSchedule } from './schedule.ts';

/** Every number reachable from `value`, with its path. */
function* numbers(value: unknown, path = 'plan', seen = new Set<object>()): Generator<[string, number]> {
  if (typeof value === 'number') yield [path, value];
  else if (value && typeof value === 'object') {
    if (seen.has(value)) return;
    seen.add(value);
    if (ArrayBuffer.isView(value)) {
      const arr = value as unknown as ArrayLike<number>;
      for (let i = 0; i < arr.length; i++) yield [`${path}[${i}]`, arr[i] as number];
    } else for (const [k, v] of Object.entries(value)) yield* numbers(v, `${path}.${k}`, seen);
  }
}

/** The CP group covers 1/t of the heads when TP runs alongside it; Megatron SP's group is the TP group. */
const headShare = (p: Plan): number => (p.params.strategy === 'megatron-sp' ? 1 : p.tp);

describe('plan() on random valid Params (full ranges)', () => {
  it('every generated Params is one the URL codec accepts', () => {
    fc.assert(
      fc.property(validParams, (p) => {
        for (const key of PARAM_KEYS) expect('value' in parseField(key, p[key]), key).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws; every number is finite and ≥ 0; peak ≥ every category; per-rank work sums to the causal total', () => {
    let valid = 0;
    fc.assert(
      fc.property(validParams, (params) => {
        const p = plan(params);
        for (const [path, x] of numbers(p)) {
          if (path.startsWith('plan.params.')) continue;
          if (!Number.isFinite(x) || x < 0) throw new Error(`${path} = ${x}`);
        }
        if (!p.valid) {
          expect(p.reason).toMatch(/\S/);
          return;
        }
        valid++;
        for (const r of [...p.perRank, { rank: 'baseline', memory: p.baseline.memory }]) {
          for (const k of MEMORY_CATEGORIES) if (r.memory.peak < r.memory[k] * (1 - 1e-12)) throw new Error(`rank ${r.rank}: peak ${r.memory.peak} < ${k} ${r.memory[k]}`);
          const atPeak = MEMORY_CATEGORIES.reduce((a, k) => a + r.memory.atPeak[k], 0);
          // The categories at the peak step sum to the peak (to a byte: fractional bytes under ZeRO are rounded).
          if (Math.abs(atPeak - r.memory.peak) > 1 + 1e-9 * r.memory.peak) throw new Error(`rank ${r.rank}: categories at peak sum to ${atPeak}, peak ${r.memory.peak}`);
        }
        // Σ causal pairs s(s+1)/2 × 4·d × heads × micro-batch (plan.test.ts, "per-rank FLOPs sum to the causal total").
        const s = params.seq;
        const expected = ((s * (s + 1)) / 2) * 4 * params.headDim * params.heads * params.microBatch;
        const total = p.perRank.reduce((a, r) => a + r.causalFlops, 0) * headShare(p);
        expect(Math.abs(total - expected) / expected).toBeLessThan(1e-9);
      }),
      { numRuns: 120 },
    );
    expect(valid).toBeGreaterThan(20); // the invariants were checked on real plans, not only on refusals
  });
});

// ---- Causal coverage, P ≤ 16 (token-level, so small sequences) ----------------------------------

function tokens(set: TokenSet): number[] {
  const out: number[] = [];
  for (const s of set) for (let i = 0; i < s.count; i++) out.push(s.start + i * s.stride);
  return out;
}
const headList = (h: HeadRange): number[] => Array.from({ length: h.end - h.start }, (_, i) => h.start + i);

/** Why not every (head, q, k ≤ q) is computed exactly once in a phase, or null. */
function coverageError(s: ValidSchedule, p: Params, phase: 'forward' | 'backward'): string | null {
  const n = p.seq;
  const counts = new Uint8Array(p.heads * n * n);
  for (const step of s.steps) {
    if (step.phase !== phase) continue;
    for (const rc of step.compute) {
      const ks = tokens(rc.kv);
      for (const h of headList(rc.heads)) for (const q of tokens(rc.q)) for (const k of ks) if (k <= q) counts[(h * n + q) * n + k]! += 1;
    }
  }
  for (let h = 0; h < p.heads; h++)
    for (let q = 0; q < n; q++)
      for (let k = 0; k <= q; k++) {
        const c = counts[(h * n + q) * n + k];
        if (c !== 1) return `${phase}: head ${h} q ${q} k ${k} computed ${c} times`;
      }
  return null;
}

const smallParams: fc.Arbitrary<Params> = fc
  .record({
    base: validParams,
    ranks: fc.integer({ min: 1, max: 16 }),
    ulysses: fc.constantFrom(1, 2, 4, 8),
    seq: fc.integer({ min: 1, max: 48 }),
    heads: fc.integer({ min: 1, max: 8 }),
    kvDivisor: fc.integer({ min: 1, max: 8 }),
  })
  .map(({ base, ranks, ulysses, seq, heads, kvDivisor }) => {
    const divisors = Array.from({ length: heads }, (_, i) => i + 1).filter((d) => heads % d === 0);
    const kvHeads = divisors[(kvDivisor - 1) % divisors.length] as number;
    return { ...base, model: 'custom', ranks, ulysses, seq, heads, kvHeads, tp: 1 };
  });

describe('causal coverage on random small schedules, P ≤ 16', () => {
  it('every causal pair exactly once, forward and backward', () => {
    let checked = 0;
    fc.assert(
      fc.property(smallParams, (p) => {
        const s = buildSchedule(p);
        if (!s.valid) return;
        checked++;
        for (const phase of ['forward', 'backward'] as const) {
          const err = coverageError(s, p, phase);
          if (err) throw new Error(`${p.strategy}/${p.impl} P=${p.ranks} seq=${p.seq} heads=${p.heads}/${p.kvHeads} U=${p.ulysses}: ${err}`);
        }
      }),
      { numRuns: 300 },
    );
    expect(checked).toBeGreaterThan(100);
  });
});

describe('replan() reuses only what the changed fields cannot touch', () => {
  // Params `a`, then `b`'s values for a random subset of fields: replan(next, plan(a)) must equal
  // plan(next) exactly, whichever shortcut it took (the schedule, or the whole plan). A field
  // missing from SCHEDULE_FIELDS that a builder reads makes the schedules differ here.
  it('equals plan() after any change, and keeps the schedule when only pricing fields change', () => {
    let scheduleKept = 0;
    // Fields outside SCHEDULE_FIELDS, plus at most one field of any kind: most runs take a shortcut.
    const others = PARAM_KEYS.filter((k) => !(SCHEDULE_FIELDS as readonly string[]).includes(k));
    const changes = fc.tuple(fc.subarray(others), fc.option(fc.constantFrom(...PARAM_KEYS), { nil: undefined }));
    fc.assert(
      fc.property(validParams, validParams, changes, (a, b, [keys, one]) => {
        const next: Params = { ...a };
        for (const k of one ? [...keys, one] : keys) (next as unknown as Record<string, unknown>)[k] = b[k];
        const previous = plan(a);
        const reused = replan(next, previous);
        expect(JSON.stringify(reused)).toBe(JSON.stringify(plan(next)));
        if (SCHEDULE_FIELDS.every((k) => next[k] === a[k])) {
          expect(reused.schedule).toBe(previous.schedule);
          scheduleKept++;
        }
      }),
      { numRuns: 80 },
    );
    expect(scheduleKept).toBeGreaterThan(0);
  });
});
