// Naive causal attention backward, the benchmark's baseline: no workgroup memory, every operand read
// straight from storage, P recomputed from the saved (lse, D) like the tiled kernel. One dispatch with
// two kinds of threads: gid.x < seq: one per (key, K/V head), summing dK, dV over the GQA group's query
// heads; gid.x ≥ seq (rounded up to WG): one per (query, head), computing dQ.
//
// Bindings:
//   0 P     uniform { seq, d, heads, kvHeads, scale, keyThreads }
//   1 Q     storage read  [heads, seq, d]
//   2 K     storage read  [kvHeads, seq, d]
//   3 V     storage read  [kvHeads, seq, d]
//   4 DO    storage read  [heads, seq, d]
//   5 STATS storage read  [heads, seq] vec2 (lse, D)
//   6 DQ    storage rw    [heads, seq, d]
//   7 DK    storage rw    [kvHeads, seq, d]
//   8 DV    storage rw    [kvHeads, seq, d]
// Dispatch: (keyThreads / WG + ceil(seq / WG), heads). Private arrays of MAX_D floats: d ≤ MAX_D.

override WG: u32 = 64u;
const MAX_D: u32 = 128u;

struct Params { seq: u32, d: u32, heads: u32, kvHeads: u32, scale: f32, keyThreads: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> DO: array<f32>;
@group(0) @binding(5) var<storage, read> STATS: array<vec2f>;
@group(0) @binding(6) var<storage, read_write> DQ: array<f32>;
@group(0) @binding(7) var<storage, read_write> DK: array<f32>;
@group(0) @binding(8) var<storage, read_write> DV: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let d = P.d;
  let S = P.seq;
  if (gid.x < P.keyThreads) {
    let j = gid.x;
    let hk = gid.y;
    if (j >= S || hk >= P.kvHeads) { return; }
    let kBase = (hk * S + j) * d;
    var dk: array<f32, MAX_D>;
    var dv: array<f32, MAX_D>;
    for (var c = 0u; c < d; c++) { dk[c] = 0.0; dv[c] = 0.0; }
    let group = P.heads / P.kvHeads;
    for (var h = hk * group; h < (hk + 1u) * group; h++) {
      for (var i = j; i < S; i++) {
        let qBase = (h * S + i) * d;
        var s = 0.0;
        var dp = 0.0;
        for (var c = 0u; c < d; c++) {
          s += Q[qBase + c] * K[kBase + c];
          dp += DO[qBase + c] * V[kBase + c];
        }
        let st = STATS[h * S + i];
        let p = exp(s * P.scale - st.x);
        let ds = p * (dp - st.y);
        for (var c = 0u; c < d; c++) {
          dv[c] += p * DO[qBase + c];
          dk[c] += ds * Q[qBase + c];
        }
      }
    }
    for (var c = 0u; c < d; c++) { DK[kBase + c] = dk[c] * P.scale; DV[kBase + c] = dv[c]; }
    return;
  }
  let i = gid.x - P.keyThreads;
  let h = gid.y;
  if (i >= S) { return; }
  let hk = (h * P.kvHeads) / P.heads;
  let qBase = (h * S + i) * d;
  let st = STATS[h * S + i];
  var dq: array<f32, MAX_D>;
  for (var c = 0u; c < d; c++) { dq[c] = 0.0; }
  for (var j = 0u; j <= i; j++) {
    let kBase = (hk * S + j) * d;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < d; c++) {
      s += Q[qBase + c] * K[kBase + c];
      dp += DO[qBase + c] * V[kBase + c];
    }
    let p = exp(s * P.scale - st.x);
    let ds = p * (dp - st.y);
    for (var c = 0u; c < d; c++) { dq[c] += ds * K[kBase + c]; }
  }
  for (var c = 0u; c < d; c++) { DQ[qBase + c] = dq[c] * P.scale; }
}
