// Gradient reduction: DST[dstOffset + i] += SRC[srcOffset + i] for i < count. The "reduce" half of a
// reduce-scatter, and the sum a rank forms before it passes partial dK/dV on (ring: its own block
// partial + the partial sum received from the previous rank). fp32 accumulation.
//
// Bindings:
//   0 P    uniform { srcOffset, dstOffset, count, groupsX }  offsets and count in f32 elements
//   1 SRC  storage read  array<f32>
//   2 DST  storage rw    array<f32>   a different buffer from SRC
// Dispatch: 2D (min(groups, groupsX), ceil(groups / groupsX)) workgroups of WG, one invocation per element.

override WG: u32 = 64u;

struct Params { srcOffset: u32, dstOffset: u32, count: u32, groupsX: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> SRC: array<f32>;
@group(0) @binding(2) var<storage, read_write> DST: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let i = (wid.y * P.groupsX + wid.x) * WG + lid;
  if (i >= P.count) { return; }
  DST[P.dstOffset + i] += SRC[P.srcOffset + i];
}
