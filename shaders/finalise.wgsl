// Finalise: O = acc / l and the log-sum-exp lse = m + log(l) kept for the backward pass
// (FlashAttention-2 stores L = m + log l per row instead of m and l).
//
// Bindings:
//   0 P    uniform { rows, d, groupsX }   rows = computeHeads · tq
//   1 M    storage read  [rows]     running max
//   2 L    storage read  [rows]     running sum
//   3 ACC  storage read  [rows, d]  unnormalised output
//   4 O    storage rw    [rows, d]  normalised output
//   5 LSE  storage rw    [rows]     log-sum-exp (−1e30 for a row that saw no key)
// Dispatch: 2D, (min(groups, groupsX), ceil(groups / groupsX)) workgroups of WG threads, one thread per
// element of O; reshaped so neither dimension exceeds maxComputeWorkgroupsPerDimension.
// No mask here: masking happened in block attention. A row with l = 0 (no key) gives O = 0.

override WG: u32 = 64u;

struct Params { rows: u32, d: u32, groupsX: u32, pad: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> M: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<f32>;
@group(0) @binding(3) var<storage, read> ACC: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let i = (wid.y * P.groupsX + wid.x) * WG + lid;
  if (i >= P.rows * P.d) { return; }
  let row = i / P.d;
  let l = L[row];
  O[i] = select(0.0, ACC[i] / l, l > 0.0);
  if (i % P.d == 0u) { LSE[row] = select(-1.0e30, M[row] + log(l), l > 0.0); }
}
