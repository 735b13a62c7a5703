// Naive causal attention, the benchmark's baseline: one thread per (query, head), no workgroup memory,
// every K/V row read straight from storage, online softmax in registers (Milakov & Gimelshein 2018).
//
// Bindings:
//   0 P    uniform { seq, d, heads, kvHeads, scale }
//   1 Q    storage read  [heads, seq, d]
//   2 K    storage read  [kvHeads, seq, d]
//   3 V    storage read  [kvHeads, seq, d]
//   4 O    storage rw    [heads, seq, d]
// Dispatch: (ceil(seq / WG), heads). Mask rule: key j ≤ query i (global = buffer position: one
// contiguous sequence). GQA: query head h reads K/V head floor(h · kvHeads / heads).
// The accumulator is a private array of MAX_D floats, so d ≤ MAX_D (the host checks).

override WG: u32 = 64u;
const MAX_D: u32 = 128u;

struct Params { seq: u32, d: u32, heads: u32, kvHeads: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let h = gid.y;
  if (i >= P.seq) { return; }
  let d = P.d;
  let hkv = (h * P.kvHeads) / P.heads;
  let qBase = (h * P.seq + i) * d;
  let kvHead = hkv * P.seq * d;
  var acc: array<f32, MAX_D>;
  for (var c = 0u; c < d; c++) { acc[c] = 0.0; }
  var m = -1.0e30;
  var l = 0.0;
  for (var j = 0u; j <= i; j++) {
    let kBase = kvHead + j * d;
    var s = 0.0;
    for (var c = 0u; c < d; c++) { s += Q[qBase + c] * K[kBase + c]; }
    s *= P.scale;
    let mNew = max(m, s);
    let alpha = exp(m - mNew);
    let p = exp(s - mNew);
    l = l * alpha + p;
    for (var c = 0u; c < d; c++) { acc[c] = acc[c] * alpha + p * V[kBase + c]; }
    m = mNew;
  }
  for (var c = 0u; c < d; c++) { O[qBase + c] = acc[c] / l; }
}
