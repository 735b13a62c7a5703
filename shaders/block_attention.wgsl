// Block attention with online softmax, FlashAttention-style (Dao et al. 2022, Algorithm 1, forward).
//
// One dispatch = one rank's local queries against the K/V block it holds in one step.
// The same kernel with flags INIT|FINALIZE over the whole sequence is the unsharded reference
// (one dispatch): then M receives the log-sum-exp and ACC the normalised output O.
//
// Bindings (all f32 unless noted; layouts are row-major):
//   0 P     uniform Params                          shapes and flags below
//   1 segs  storage read  array<Seg>                [qSegCount + kvSegCount]: token → global position
//   2 Q     storage read  array<f32>                [qHeadsInBuffer, tq, d]   head 0 = global head qHeadBase
//   3 K     storage read  array<f32>                [kvHeadsInBuffer, tkv, d] head 0 = global kv head kvHeadBase
//   4 V     storage read  array<f32>                [kvHeadsInBuffer, tkv, d]
//   5 M     storage rw    array<f32>                [computeHeads, tq]  running max m (FINALIZE: lse = m + log l)
//   6 L     storage rw    array<f32>                [computeHeads, tq]  running sum l
//   7 ACC   storage rw    array<f32>                [computeHeads, tq, d] unnormalised Σ p·v (FINALIZE: O = acc / l)
// Dispatch: (ceil(tq / WG_Q), computeHeads, 1); one invocation per query row.
//
// Tiling: each invocation keeps its query row (pre-scaled by 1/sqrt(d)) and its accumulator in
// private vec4 arrays of D4 = ceil(d/4) entries; the workgroup streams K and V through workgroup
// memory in tiles of BK keys (loaded cooperatively, 2 barriers per tile). Per tile a row computes its
// BK scores (4 keys at a time), the tile max m_t, rescales once by exp(m_old − m_new) and accumulates
// Σ p·v (again 4 keys per pass over the accumulator; keys past tkv are zero rows, masked). No subgroup
// operations are used, so the result does not depend on the subgroup size (4 on SwiftShader).
// WG_Q and BK are override constants chosen on the host from device.limits
// (maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupStorageSize). D4 is a const because private
// arrays need a constant size: the host specialises it per head dimension by rewriting its declaration
// line (the default here makes the file compile on its own).
//
// Mask rule: query at global position i may use key at global position j iff j ≤ i. Positions come
// from the TokenSet segments (start, count, stride, pos): the token at buffer position pos+n is the
// global token start + n·stride. A K/V tile whose smallest key position exceeds the workgroup's largest
// query position is skipped entirely (a uniform decision, so barriers stay in uniform control flow).
// Flag LOCAL_MASK compares buffer positions instead: the deliberate bug of the "local mask" demo.
// GQA: query head h reads K/V head floor(h · kvHeads / heads).

override WG_Q: u32 = 64u; // query rows (= invocations) per workgroup
override BK: u32 = 16u;   // keys per K/V tile: a multiple of 4 (or 1–3), ≤ 4·MAX_BK4
const D4: u32 = 16u;      // ceil(head_dim / 4): specialised by the host
const MAX_BK4: u32 = 16u; // private scores: up to 64 keys per tile, as vec4

const FLAG_INIT: u32 = 1u;       // ignore M/L/ACC contents: this is the first block of these rows
const FLAG_FINALIZE: u32 = 2u;   // write lse and O instead of the running state
const FLAG_LOCAL_MASK: u32 = 4u; // mask by local buffer position (bug demo)
const NEG: f32 = -1.0e30;        // "no key yet": finite, so exp(NEG − NEG) = 1, never inf − inf
const NEG_HALF: f32 = -5.0e29;
const NONE: u32 = 0xffffffffu;

struct Seg { start: u32, count: u32, stride: u32, pos: u32 }

struct Params {
  tq: u32, tkv: u32, d: u32, flags: u32,
  heads: u32, kvHeads: u32, headStart: u32, computeHeads: u32,
  qHeadBase: u32, kvHeadBase: u32, qSegCount: u32, kvSegCount: u32,
  scale: f32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> segs: array<Seg>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> K: array<f32>;
@group(0) @binding(4) var<storage, read> V: array<f32>;
@group(0) @binding(5) var<storage, read_write> M: array<f32>;
@group(0) @binding(6) var<storage, read_write> L: array<f32>;
@group(0) @binding(7) var<storage, read_write> ACC: array<f32>;

var<workgroup> Ks: array<vec4f, BK * D4>; // [BK, D4] vec4: K tile (zero-padded past d and tkv)
var<workgroup> Vs: array<vec4f, BK * D4>; // [BK, D4] vec4: V tile
var<workgroup> kpos: array<u32, BK>;      // [BK] key positions of the tile (global, or local when LOCAL_MASK)

// Position of buffer token `index` in the segment list segs[first .. first + n).
fn positionOf(first: u32, n: u32, index: u32) -> u32 {
  for (var s = first; s < first + n; s++) {
    let g = segs[s];
    if (index >= g.pos && index < g.pos + g.count) { return g.start + (index - g.pos) * g.stride; }
  }
  return NONE;
}

// Smallest (want_max = false) or largest global position among buffer tokens [a, b).
fn extremeOf(first: u32, n: u32, a: u32, b: u32, want_max: bool) -> u32 {
  var best = select(NONE, 0u, want_max);
  for (var s = first; s < first + n; s++) {
    let g = segs[s];
    let lo = max(a, g.pos);
    let hi = min(b, g.pos + g.count);
    if (lo < hi) {
      if (want_max) { best = max(best, g.start + (hi - 1u - g.pos) * g.stride); }
      else { best = min(best, g.start + (lo - g.pos) * g.stride); }
    }
  }
  return best;
}

@compute @workgroup_size(WG_Q)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let hl = wid.y;                          // computed head, local to the state buffers
  let hq = P.headStart + hl;               // global query head
  let hkv = (hq * P.kvHeads) / P.heads;    // global K/V head (GQA)
  let q0 = wid.x * WG_Q;
  let row = q0 + lid;
  let valid = row < P.tq;
  let localMask = (P.flags & FLAG_LOCAL_MASK) != 0u;
  let d = P.d;
  let sIdx = hl * P.tq + row;

  var qpos = NONE;
  var q: array<vec4f, D4>;   // this row of Q, scaled by 1/sqrt(d)
  var acc: array<vec4f, D4>; // this row's unnormalised output
  var m = NEG;
  var l = 0.0;
  if (valid) {
    qpos = select(positionOf(0u, P.qSegCount, row), row, localMask);
    let base = ((hq - P.qHeadBase) * P.tq + row) * d;
    let init = (P.flags & FLAG_INIT) != 0u;
    if (!init) {
      m = M[sIdx];
      l = L[sIdx];
    }
    for (var c = 0u; c < D4; c++) {
      var qv = vec4f(0.0);
      var av = vec4f(0.0);
      for (var e = 0u; e < 4u; e++) {
        let col = c * 4u + e;
        if (col < d) {
          qv[e] = Q[base + col] * P.scale;
          if (!init) { av[e] = ACC[sIdx * d + col]; }
        }
      }
      q[c] = qv;
      acc[c] = av;
    }
  }

  // Largest query position in this workgroup (uniform: from uniforms, read-only storage, workgroup_id).
  let qEnd = min(q0 + WG_Q, P.tq);
  var qmax = qEnd - 1u;
  if (!localMask) { qmax = extremeOf(0u, P.qSegCount, q0, qEnd, true); }
  let kvBase = (hkv - P.kvHeadBase) * P.tkv * d;
  let nTiles = (P.tkv + BK - 1u) / BK;

  for (var t = 0u; t < nTiles; t++) {
    let k0 = t * BK;
    let kEnd = min(k0 + BK, P.tkv);
    var kmin = k0;
    if (!localMask) { kmin = extremeOf(P.qSegCount, P.kvSegCount, k0, kEnd, false); }
    if (kmin > qmax) { continue; } // every key of the tile follows every query: fully masked, skipped

    for (var i = lid; i < BK * D4; i += WG_Q) {
      let j = i / D4;
      let c = i % D4;
      var kv4 = vec4f(0.0);
      var vv4 = vec4f(0.0);
      if (k0 + j < P.tkv) {
        let base = kvBase + (k0 + j) * d;
        for (var e = 0u; e < 4u; e++) {
          let col = c * 4u + e;
          if (col < d) { kv4[e] = K[base + col]; vv4[e] = V[base + col]; }
        }
      }
      Ks[i] = kv4;
      Vs[i] = vv4;
    }
    for (var j = lid; j < BK; j += WG_Q) {
      var p = NONE;
      if (k0 + j < P.tkv) { p = select(positionOf(P.qSegCount, P.kvSegCount, k0 + j), k0 + j, localMask); }
      kpos[j] = p;
    }
    workgroupBarrier();

    let kLen = kEnd - k0; // keys in this tile: a short last tile does not pay for BK keys
    if (valid) {
      // Scores, 4 keys at a time (BK is a multiple of 4): each q[c] is loaded once per 4 keys.
      var s: array<vec4f, MAX_BK4>;
      var mt = NEG;
      for (var j = 0u; j < kLen; j += 4u) {
        // Keys j..j+3 of the tile; when BK < 4 (head dim 512 in 16 KiB) the missing ones repeat key
        // BK−1 and are masked out.
        let j1 = min(j + 1u, BK - 1u);
        let j2 = min(j + 2u, BK - 1u);
        let j3 = min(j + 3u, BK - 1u);
        var d0 = vec4f(0.0);
        var d1 = vec4f(0.0);
        var d2 = vec4f(0.0);
        var d3 = vec4f(0.0);
        for (var c = 0u; c < D4; c++) {
          let qc = q[c];
          d0 += qc * Ks[j * D4 + c];
          d1 += qc * Ks[j1 * D4 + c];
          d2 += qc * Ks[j2 * D4 + c];
          d3 += qc * Ks[j3 * D4 + c];
        }
        let dots = vec4f(dot(d0, vec4f(1.0)), dot(d1, vec4f(1.0)), dot(d2, vec4f(1.0)), dot(d3, vec4f(1.0)));
        let visible = vec4<bool>(kpos[j] <= qpos, kpos[j1] <= qpos && j + 1u < BK, kpos[j2] <= qpos && j + 2u < BK, kpos[j3] <= qpos && j + 3u < BK);
        let sj = select(vec4f(NEG), dots, visible);
        mt = max(mt, max(max(sj.x, sj.y), max(sj.z, sj.w)));
        s[j / 4u] = sj;
      }
      if (mt > NEG_HALF) {
        let mNew = max(m, mt);
        let alpha = exp(m - mNew);
        l *= alpha;
        for (var c = 0u; c < D4; c++) { acc[c] *= alpha; }
        // Probabilities and Σ p·v, 4 keys at a time: each acc[c] is loaded and stored once per 4 keys.
        for (var j = 0u; j < kLen; j += 4u) {
          let sj = s[j / 4u];
          let p = select(vec4f(0.0), exp(sj - vec4f(mNew)), sj > vec4f(NEG_HALF));
          if (all(p == vec4f(0.0))) { continue; }
          l += p.x + p.y + p.z + p.w;
          let j1 = min(j + 1u, BK - 1u);
          let j2 = min(j + 2u, BK - 1u);
          let j3 = min(j + 3u, BK - 1u);
          for (var c = 0u; c < D4; c++) {
            acc[c] += p.x * Vs[j * D4 + c] + p.y * Vs[j1 * D4 + c] + p.z * Vs[j2 * D4 + c] + p.w * Vs[j3 * D4 + c];
          }
        }
        m = mNew;
      }
    }
    workgroupBarrier(); // the next tile overwrites Ks, Vs, kpos
  }

  if (!valid) { return; }
  let finalize = (P.flags & FLAG_FINALIZE) != 0u;
  var inv = 1.0;
  if (finalize) {
    inv = select(0.0, 1.0 / l, l > 0.0);
    M[sIdx] = select(NEG, m + log(l), l > 0.0);
  } else {
    M[sIdx] = m;
  }
  L[sIdx] = l;
  for (var c = 0u; c < D4; c++) {
    let a = acc[c] * inv;
    for (var e = 0u; e < 4u; e++) {
      let col = c * 4u + e;
      if (col < d) { ACC[sIdx * d + col] = a[e]; }
    }
  }
}
