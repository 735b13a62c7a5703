// Block attention backward, FlashAttention-2 style (Dao 2023, "FlashAttention-2", Algorithm 2):
// P is recomputed from Q, K and the saved log-sum-exp (P_ij = exp(q_i·k_j/√d − lse_i)), then
//   dV_j += Σ_i P_ij dO_i,   dP_ij = dO_i · v_j,   dS_ij = P_ij (dP_ij − D_i),
//   dQ_i += Σ_j dS_ij k_j / √d,   dK_j += Σ_i dS_ij q_i / √d,
// with D_i = rowsum(dO_i ∘ O_i) from shaders/backward_preprocess.wgsl (stored beside lse in STATS).
//
// One dispatch = one rank's query block against the K/V block it holds in one backward step. WGSL has
// no float atomics, so instead of FA2's atomic dQ the dispatch has two kinds of workgroups:
//   - workgroup_id.x <  kvGroups: one invocation per KEY row of K/V head (kvOutBase + workgroup_id.y);
//     it keeps k, v, dk, dv in private vec4 arrays and streams the query rows (Q, dO, lse, D) of every
//     computed query head of its GQA group through workgroup memory: dK, dV are summed over the group;
//   - workgroup_id.x >= kvGroups: one invocation per QUERY row of computed head headStart + workgroup_id.y;
//     it keeps q, dO, dq in private arrays and streams K, V through workgroup memory.
// Both recompute P and dP (7 matrix products per pair instead of FA2's 5); nothing is shared between
// invocations except the tiles, so no result depends on the subgroup size, and every output element is
// written by exactly one invocation (deterministic, no atomics).
//
// Bindings (f32 unless noted, row-major):
//   0 P     uniform Params (with the token segments: token → global position, see the forward kernel)
//   1 Q     storage read  [qHeadsInBuffer, tq, d]    head 0 = global query head qHeadBase
//   2 K     storage read  [kvHeadsInBuffer, tkv, d]  head 0 = global K/V head kvHeadBase
//   3 V     storage read  [kvHeadsInBuffer, tkv, d]
//   4 DO    storage read  [dOHeadsInBuffer, tq, d]   head 0 = global query head dOHeadBase
//   5 STATS storage read  [computeHeads, tq] vec2    (lse, D) per query row
//   6 DQ    storage rw    [computeHeads, tq, d]      accumulated unless FLAG_INIT
//   7 DK    storage rw    [kvOutCount, tkv, d]       head 0 = global K/V head kvOutBase; overwritten
//   8 DV    storage rw    [kvOutCount, tkv, d]
// Dispatch: (kvGroups + ceil(tq / WG), max(kvOutCount, computeHeads), 1) workgroups of WG invocations.
// Eight storage buffers (WebGPU's default maxStorageBuffersPerShaderStage): the segments therefore
// live in the uniform block, at most MAX_SEGS per dispatch (the host checks).
//
// Tiles: WG rows per workgroup and BT streamed rows per tile are override constants chosen on the host
// from device.limits (invocations, workgroup storage); D4 = ceil(d/4) is specialised by the host like
// the forward kernel's. Mask: global causal, key position ≤ query position (FLAG_LOCAL_MASK: buffer
// positions, the bug demo). A streamed tile none of whose rows can see any of the workgroup's rows is
// skipped (a uniform decision: from uniforms and workgroup_id only).

override WG: u32 = 64u;   // rows (= invocations) per workgroup
override BT: u32 = 16u;   // streamed rows per tile in workgroup memory
const D4: u32 = 16u;      // ceil(head_dim / 4): specialised by the host
const MAX_SEGS: u32 = 32u;

const FLAG_INIT: u32 = 1u;       // first block of these dQ rows: overwrite DQ instead of adding
const FLAG_LOCAL_MASK: u32 = 4u; // mask by local buffer position (bug demo)
const NONE: u32 = 0xffffffffu;

struct Seg { start: u32, count: u32, stride: u32, pos: u32 }

struct Params {
  tq: u32, tkv: u32, d: u32, flags: u32,
  heads: u32, kvHeads: u32, headStart: u32, computeHeads: u32,
  qHeadBase: u32, kvHeadBase: u32, dOHeadBase: u32, kvOutBase: u32,
  kvOutCount: u32, qSegCount: u32, kvSegCount: u32, kvGroups: u32,
  scale: f32, pad0: u32, pad1: u32, pad2: u32,
  segs: array<Seg, MAX_SEGS>, // q segments first, then kv segments
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> DO: array<f32>;
@group(0) @binding(5) var<storage, read> STATS: array<vec2f>;
@group(0) @binding(6) var<storage, read_write> DQ: array<f32>;
@group(0) @binding(7) var<storage, read_write> DK: array<f32>;
@group(0) @binding(8) var<storage, read_write> DV: array<f32>;

var<workgroup> tileA: array<vec4f, BT * D4>; // [BT, D4]: Q rows (dK/dV role) or K rows (dQ role)
var<workgroup> tileB: array<vec4f, BT * D4>; // [BT, D4]: dO rows (dK/dV role) or V rows (dQ role)
var<workgroup> tilePos: array<u32, BT>;      // [BT] positions of the streamed rows (NONE past the end)
var<workgroup> tileStats: array<vec2f, BT>;  // [BT] (lse, D) of streamed query rows (dK/dV role)

fn positionOf(first: u32, n: u32, index: u32) -> u32 {
  for (var s = first; s < first + n; s++) {
    let g = P.segs[s];
    if (index >= g.pos && index < g.pos + g.count) { return g.start + (index - g.pos) * g.stride; }
  }
  return NONE;
}

fn extremeOf(first: u32, n: u32, a: u32, b: u32, want_max: bool) -> u32 {
  var best = select(NONE, 0u, want_max);
  for (var s = first; s < first + n; s++) {
    let g = P.segs[s];
    let lo = max(a, g.pos);
    let hi = min(b, g.pos + g.count);
    if (lo < hi) {
      if (want_max) { best = max(best, g.start + (hi - 1u - g.pos) * g.stride); }
      else { best = min(best, g.start + (lo - g.pos) * g.stride); }
    }
  }
  return best;
}

// Loads row `index` (of `count` rows, `d` wide, starting at element `base`) as vec4 entry c.
fn load4(buf: u32, base: u32, c: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) {
    let col = c * 4u + e;
    if (col < P.d) {
      switch buf {
        case 0u: { v[e] = Q[base + col]; }
        case 1u: { v[e] = K[base + col]; }
        case 2u: { v[e] = V[base + col]; }
        default: { v[e] = DO[base + col]; }
      }
    }
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let localMask = (P.flags & FLAG_LOCAL_MASK) != 0u;
  let d = P.d;
  if (wid.x < P.kvGroups) {
    // ---------------- dK, dV: one invocation per key row ----------------
    if (wid.y >= P.kvOutCount) { return; } // uniform: whole workgroup
    let hkv = P.kvOutBase + wid.y;
    let k0 = wid.x * WG;
    let key = k0 + lid;
    let valid = key < P.tkv;
    var kpos = NONE;
    var k: array<vec4f, D4>;  // this key row, scaled by 1/sqrt(d)
    var v: array<vec4f, D4>;
    var dk: array<vec4f, D4>;
    var dv: array<vec4f, D4>;
    if (valid) {
      kpos = select(positionOf(P.qSegCount, P.kvSegCount, key), key, localMask);
      let base = ((hkv - P.kvHeadBase) * P.tkv + key) * d;
      for (var c = 0u; c < D4; c++) {
        k[c] = load4(1u, base, c) * P.scale;
        v[c] = load4(2u, base, c);
        dk[c] = vec4f(0.0);
        dv[c] = vec4f(0.0);
      }
    }
    // Smallest key position of the workgroup: query tiles entirely before it are skipped.
    let kEndW = min(k0 + WG, P.tkv);
    var kmin = k0;
    if (!localMask) { kmin = extremeOf(P.qSegCount, P.kvSegCount, k0, kEndW, false); }
    // Query heads of this K/V head's GQA group that the dispatch computes.
    let group = P.heads / P.kvHeads;
    let hFirst = max(hkv * group, P.headStart);
    let hEnd = min((hkv + 1u) * group, P.headStart + P.computeHeads);
    let nTiles = (P.tq + BT - 1u) / BT;
    for (var hq = hFirst; hq < hEnd; hq++) {
      let hl = hq - P.headStart;
      for (var t = 0u; t < nTiles; t++) {
        let q0 = t * BT;
        let qEnd = min(q0 + BT, P.tq);
        var qmax = qEnd - 1u;
        if (!localMask) { qmax = extremeOf(0u, P.qSegCount, q0, qEnd, true); }
        if (qmax < kmin) { continue; } // every query precedes every key: nothing visible

        for (var i = lid; i < BT * D4; i += WG) {
          let r = i / D4;
          let c = i % D4;
          var a = vec4f(0.0);
          var b = vec4f(0.0);
          if (q0 + r < P.tq) {
            a = load4(0u, ((hq - P.qHeadBase) * P.tq + q0 + r) * d, c);
            b = load4(3u, ((hq - P.dOHeadBase) * P.tq + q0 + r) * d, c);
          }
          tileA[i] = a;
          tileB[i] = b;
        }
        for (var r = lid; r < BT; r += WG) {
          var p = NONE;
          var st = vec2f(0.0);
          if (q0 + r < P.tq) {
            p = select(positionOf(0u, P.qSegCount, q0 + r), q0 + r, localMask);
            st = STATS[hl * P.tq + q0 + r];
          }
          tilePos[r] = p;
          tileStats[r] = st;
        }
        workgroupBarrier();
        if (valid) {
          let n = qEnd - q0;
          for (var r = 0u; r < n; r++) {
            if (tilePos[r] < kpos) { continue; } // query before this key: masked
            var sAcc = vec4f(0.0);
            var dpAcc = vec4f(0.0);
            for (var c = 0u; c < D4; c++) {
              sAcc += tileA[r * D4 + c] * k[c];
              dpAcc += tileB[r * D4 + c] * v[c];
            }
            let st = tileStats[r];
            let p = exp(dot(sAcc, vec4f(1.0)) - st.x);
            let ds = p * (dot(dpAcc, vec4f(1.0)) - st.y);
            for (var c = 0u; c < D4; c++) {
              dv[c] += p * tileB[r * D4 + c];
              dk[c] += ds * tileA[r * D4 + c];
            }
          }
        }
        workgroupBarrier(); // the next tile overwrites the tiles
      }
    }
    if (valid) {
      let out = (wid.y * P.tkv + key) * d;
      for (var c = 0u; c < D4; c++) {
        let a = dk[c] * P.scale;
        let b = dv[c];
        for (var e = 0u; e < 4u; e++) {
          let col = c * 4u + e;
          if (col < d) { DK[out + col] = a[e]; DV[out + col] = b[e]; }
        }
      }
    }
    return; // uniform: the whole workgroup leaves the dK/dV branch here
  }

  // ---------------- dQ: one invocation per query row ----------------
  if (wid.y >= P.computeHeads) { return; } // uniform: whole workgroup
  let hl = wid.y;
  let hq = P.headStart + hl;
  let hkv = (hq * P.kvHeads) / P.heads;
  let q0 = (wid.x - P.kvGroups) * WG;
  let row = q0 + lid;
  let valid = row < P.tq;
  var qpos = NONE;
  var q: array<vec4f, D4>;  // scaled by 1/sqrt(d)
  var g: array<vec4f, D4>;  // this row of dO
  var dq: array<vec4f, D4>;
  var st = vec2f(0.0);
  if (valid) {
    qpos = select(positionOf(0u, P.qSegCount, row), row, localMask);
    let qBase = ((hq - P.qHeadBase) * P.tq + row) * d;
    let gBase = ((hq - P.dOHeadBase) * P.tq + row) * d;
    for (var c = 0u; c < D4; c++) {
      q[c] = load4(0u, qBase, c) * P.scale;
      g[c] = load4(3u, gBase, c);
      dq[c] = vec4f(0.0);
    }
    st = STATS[hl * P.tq + row];
  }
  let qEndW = min(q0 + WG, P.tq);
  var qmax = qEndW - 1u;
  if (!localMask) { qmax = extremeOf(0u, P.qSegCount, q0, qEndW, true); }
  let kvBase = (hkv - P.kvHeadBase) * P.tkv * d;
  let nTiles = (P.tkv + BT - 1u) / BT;
  for (var t = 0u; t < nTiles; t++) {
    let k0 = t * BT;
    let kEnd = min(k0 + BT, P.tkv);
    var kmin = k0;
    if (!localMask) { kmin = extremeOf(P.qSegCount, P.kvSegCount, k0, kEnd, false); }
    if (kmin > qmax) { continue; } // every key follows every query: fully masked

    for (var i = lid; i < BT * D4; i += WG) {
      let r = i / D4;
      let c = i % D4;
      var a = vec4f(0.0);
      var b = vec4f(0.0);
      if (k0 + r < P.tkv) {
        a = load4(1u, kvBase + (k0 + r) * d, c);
        b = load4(2u, kvBase + (k0 + r) * d, c);
      }
      tileA[i] = a;
      tileB[i] = b;
    }
    for (var r = lid; r < BT; r += WG) {
      var p = NONE;
      if (k0 + r < P.tkv) { p = select(positionOf(P.qSegCount, P.kvSegCount, k0 + r), k0 + r, localMask); }
      tilePos[r] = p;
    }
    workgroupBarrier();
    if (valid) {
      let n = kEnd - k0;
      for (var r = 0u; r < n; r++) {
        if (tilePos[r] > qpos) { continue; } // key after this query: masked
        var sAcc = vec4f(0.0);
        var dpAcc = vec4f(0.0);
        for (var c = 0u; c < D4; c++) {
          sAcc += q[c] * tileA[r * D4 + c];
          dpAcc += g[c] * tileB[r * D4 + c];
        }
        let p = exp(dot(sAcc, vec4f(1.0)) - st.x);
        let ds = p * (dot(dpAcc, vec4f(1.0)) - st.y);
        for (var c = 0u; c < D4; c++) { dq[c] += ds * tileA[r * D4 + c]; }
      }
    }
    workgroupBarrier();
  }
  if (!valid) { return; }
  let init = (P.flags & FLAG_INIT) != 0u;
  let out = (hl * P.tq + row) * d;
  for (var c = 0u; c < D4; c++) {
    let a = dq[c] * P.scale;
    for (var e = 0u; e < 4u; e++) {
      let col = c * 4u + e;
      if (col < d) {
        var prev = 0.0;
        if (!init) { prev = DQ[out + col]; }
        DQ[out + col] = prev + a[e];
      }
    }
  }
}
