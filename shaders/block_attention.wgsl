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
// Dispatch: (ceil(tq / WG_Q), computeHeads, 1). Workgroup: WG_Q query rows × TD threads per row,
// TD = ceil(d / 4); thread (r, tx) owns output columns 4·tx … 4·tx+3 of row r (a vec4 accumulator).
//
// Tiling: the workgroup's WG_Q query rows (pre-scaled by 1/sqrt(d)) stay in workgroup memory;
// K and V stream through workgroup memory in tiles of BK keys. Per tile: scores S = Q·Kᵀ (each thread
// computes BK/TD full dot products of its row), row max, p = exp(s − m_new), then
// acc ← acc·exp(m_old − m_new) + P·V, l ← l·exp(m_old − m_new) + Σp. No subgroup operations are used,
// so the result does not depend on the subgroup size (4 on SwiftShader).
// WG_Q, TD and BK are override constants chosen on the host from device.limits
// (maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupStorageSize).
//
// Mask rule: query at global position i may use key at global position j iff j ≤ i. Positions come
// from the TokenSet segments (start, count, stride, pos): the token at buffer position pos+n is the
// global token start + n·stride. A K/V tile whose smallest key position exceeds the workgroup's largest
// query position is skipped entirely (a uniform decision, so barriers stay in uniform control flow).
// Flag LOCAL_MASK compares buffer positions instead: the deliberate bug of the "local mask" demo.
// GQA: query head h reads K/V head floor(h · kvHeads / heads).

override WG_Q: u32 = 16u; // query rows per workgroup
override TD: u32 = 16u;   // threads per query row, = ceil(d / 4)
override BK: u32 = 16u;   // keys per K/V tile

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

var<workgroup> Qs: array<vec4f, WG_Q * TD>; // [WG_Q, TD] vec4: the workgroup's query rows, scaled
var<workgroup> Ks: array<vec4f, BK * TD>;   // [BK, TD] vec4: K tile (zero-padded past d and tkv)
var<workgroup> Vs: array<vec4f, BK * TD>;   // [BK, TD] vec4: V tile
var<workgroup> S: array<f32, WG_Q * BK>;    // [WG_Q, BK] scores, then probabilities
var<workgroup> kpos: array<u32, BK>;        // [BK] key positions of the tile (global, or local when LOCAL_MASK)

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

@compute @workgroup_size(WG_Q * TD)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let r = lid / TD;
  let tx = lid % TD;
  let hl = wid.y;                          // computed head, local to the state buffers
  let hq = P.headStart + hl;               // global query head
  let hkv = (hq * P.kvHeads) / P.heads;    // global K/V head (GQA)
  let q0 = wid.x * WG_Q;
  let row = q0 + r;
  let valid = row < P.tq;
  let localMask = (P.flags & FLAG_LOCAL_MASK) != 0u;
  let d = P.d;

  var qpos = NONE;
  if (valid) { qpos = select(positionOf(0u, P.qSegCount, row), row, localMask); }

  // This thread's 4 columns of its query row, scaled, into workgroup memory.
  var qv = vec4f(0.0);
  if (valid) {
    let base = ((hq - P.qHeadBase) * P.tq + row) * d;
    for (var c = 0u; c < 4u; c++) {
      let col = tx * 4u + c;
      if (col < d) { qv[c] = Q[base + col] * P.scale; }
    }
  }
  Qs[lid] = qv;

  // Running state of this row.
  let sIdx = hl * P.tq + row;
  var m = NEG;
  var l = 0.0;
  var acc = vec4f(0.0);
  if (valid && (P.flags & FLAG_INIT) == 0u) {
    m = M[sIdx];
    l = L[sIdx];
    for (var c = 0u; c < 4u; c++) {
      let col = tx * 4u + c;
      if (col < d) { acc[c] = ACC[sIdx * d + col]; }
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

    for (var i = lid; i < BK * TD; i += WG_Q * TD) {
      let j = i / TD;
      let cx = i % TD;
      var kv4 = vec4f(0.0);
      var vv4 = vec4f(0.0);
      if (k0 + j < P.tkv) {
        let base = kvBase + (k0 + j) * d;
        for (var c = 0u; c < 4u; c++) {
          let col = cx * 4u + c;
          if (col < d) { kv4[c] = K[base + col]; vv4[c] = V[base + col]; }
        }
      }
      Ks[i] = kv4;
      Vs[i] = vv4;
    }
    for (var j = lid; j < BK; j += WG_Q * TD) {
      var p = NONE;
      if (k0 + j < P.tkv) { p = select(positionOf(P.qSegCount, P.kvSegCount, k0 + j), k0 + j, localMask); }
      kpos[j] = p;
    }
    workgroupBarrier();

    // Scores of row r: this thread computes keys tx, tx + TD, …
    for (var j = tx; j < BK; j += TD) {
      var s = NEG;
      if (valid && kpos[j] <= qpos) {
        var acc_s = 0.0;
        for (var c = 0u; c < TD; c++) { acc_s += dot(Qs[r * TD + c], Ks[j * TD + c]); }
        s = acc_s;
      }
      S[r * BK + j] = s;
    }
    workgroupBarrier();

    var mt = NEG;
    for (var j = 0u; j < BK; j++) { mt = max(mt, S[r * BK + j]); }
    let mNew = max(m, mt);
    let alpha = exp(m - mNew);
    workgroupBarrier(); // every row max is read before the scores become probabilities

    for (var j = tx; j < BK; j += TD) {
      let s = S[r * BK + j];
      S[r * BK + j] = select(0.0, exp(s - mNew), s > NEG_HALF);
    }
    workgroupBarrier();

    var rowSum = 0.0;
    var pv = vec4f(0.0);
    for (var j = 0u; j < BK; j++) {
      let p = S[r * BK + j];
      rowSum += p;
      pv += p * Vs[j * TD + tx];
    }
    l = l * alpha + rowSum;
    acc = acc * alpha + pv;
    m = mNew;
    workgroupBarrier(); // the next tile overwrites Ks, Vs, S
  }

  if (!valid) { return; }
  if ((P.flags & FLAG_FINALIZE) != 0u) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    acc = acc * inv;
    if (tx == 0u) {
      M[sIdx] = select(NEG, m + log(l), l > 0.0);
      L[sIdx] = l;
    }
  } else if (tx == 0u) {
    M[sIdx] = m;
    L[sIdx] = l;
  }
  for (var c = 0u; c < 4u; c++) {
    let col = tx * 4u + c;
    if (col < d) { ACC[sIdx * d + col] = acc[c]; }
  }
}
