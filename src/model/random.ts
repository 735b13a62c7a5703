// Seeded, deterministic inputs for the executed attention, so a run can be reproduced from the URL.
// mulberry32 (Tommy Ettinger's 32-bit generator) for uniforms, Box–Muller for standard normals.
// Q, K and V come from separate streams, so changing kvHeads leaves Q unchanged.

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with standard normal samples (float32) from a seeded stream. */
export function fillNormal(out: Float32Array, seed: number): Float32Array {
  const next = mulberry32(seed);
  for (let i = 0; i < out.length; i += 2) {
    const u1 = 1 - next(); // (0, 1]
    const u2 = next();
    const radius = Math.sqrt(-2 * Math.log(u1));
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

export interface AttentionInputs {
  readonly heads: number;
  readonly kvHeads: number;
  readonly seq: number;
  readonly headDim: number;
  /** [heads, seq, headDim] f32 */
  readonly q: Float32Array;
  /** [kvHeads, seq, headDim] f32 */
  readonly k: Float32Array;
  /** [kvHeads, seq, headDim] f32 */
  readonly v: Float32Array;
}

/** Stream seeds derived from the user's seed (a fixed odd multiplier keeps the streams apart): 0 Q, 1 K, 2 V, 3 dO. */
export function streamSeed(seed: number, stream: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
}

/** Q, K, V ~ N(0, 1), deterministic in (seed, shape). */
export function generateInputs(seed: number, heads: number, kvHeads: number, seq: number, headDim: number): AttentionInputs {
  return {
    heads,
    kvHeads,
    seq,
    headDim,
    q: fillNormal(new Float32Array(heads * seq * headDim), streamSeed(seed, 0)),
    k: fillNormal(new Float32Array(kvHeads * seq * headDim), streamSeed(seed, 1)),
    v: fillNormal(new Float32Array(kvHeads * seq * headDim), streamSeed(seed, 2)),
  };
}
