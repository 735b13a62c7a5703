// Backward preprocessing (FlashAttention-2, Algorithm 2, line 4): D_i = rowsum(dO_i ∘ O_i) per query
// row, stored beside the row's log-sum-exp as STATS[row] = (lse, D) for shaders/attention_backward.wgsl.
//
// Bindings:
//   0 P     uniform { tq, d, computeHeads, dOHeadOffset, groupsX }
//   1 DO    storage read  [dOHeadsInBuffer, tq, d]  head (hl + dOHeadOffset) holds computed head hl
//   2 O     storage read  [computeHeads, tq, d]     the forward output of these rows
//   3 LSE   storage read  [computeHeads, tq]        saved by the forward finalise
//   4 STATS storage rw    [computeHeads, tq] vec2   (lse, D)
// Dispatch: 2D (min(groups, groupsX), ceil(groups / groupsX)) workgroups of WG, one invocation per row.

override WG: u32 = 64u;

struct Params { tq: u32, d: u32, computeHeads: u32, dOHeadOffset: u32, groupsX: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> DO: array<f32>;
@group(0) @binding(2) var<storage, read> O: array<f32>;
@group(0) @binding(3) var<storage, read> LSE: array<f32>;
@group(0) @binding(4) var<storage, read_write> STATS: array<vec2f>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let row = (wid.y * P.groupsX + wid.x) * WG + lid;
  if (row >= P.computeHeads * P.tq) { return; }
  let hl = row / P.tq;
  let i = row % P.tq;
  let gBase = ((hl + P.dOHeadOffset) * P.tq + i) * P.d;
  let oBase = row * P.d;
  var s = 0.0;
  for (var c = 0u; c < P.d; c++) { s += DO[gBase + c] * O[oBase + c]; }
  STATS[row] = vec2f(LSE[row], s);
}
