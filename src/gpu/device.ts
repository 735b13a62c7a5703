// One GPUDevice for the whole app (the scene shares it). Requests the limits the attention kernels
// size themselves from, plus timestamp-query where the adapter has it, and a known-answer self-test
// the page runs at start: an adapter that cannot count past 65,535 is not trusted with attention.

export type GpuInit =
  | { ok: true; device: GPUDevice; adapter: GPUAdapter; adapterName: string }
  | { ok: false; reason: string };

/** Limits raised to the adapter's own values (the defaults are lower than most adapters give). */
const RAISED_LIMITS = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * The GPU entry point each device came from. Dawn's node binding tears its instance down when the
 * object returned by `create()` is garbage-collected, even while a device is in use (a crash in a
 * worker thread, see https://issues.chromium.org/issues/387965810); this keeps it alive exactly as
 * long as the device is reachable.
 */
const entryOfDevice = new WeakMap<GPUDevice, GPU>();

/** Features used when present; none is required. */
const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['timestamp-query'];

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info as GPUAdapterInfo | undefined;
  if (!info) return 'unknown adapter';
  const parts = [info.description, info.vendor, info.architecture, info.device].filter((s) => typeof s === 'string' && s.length > 0);
  const name = parts.length ? [...new Set(parts)].join(' / ') : 'unknown adapter';
  return (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ? `${name} (software fallback)` : name;
}

/**
 * Requests an adapter and a device. `gpu` defaults to `navigator.gpu`; pass Dawn's `create([])`
 * in node. Never throws: a failure is `{ ok: false, reason }`, a sentence a user can read.
 */
export async function requestGpu(gpu?: GPU): Promise<GpuInit> {
  const entry = gpu ?? (typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined);
  if (!entry) return { ok: false, reason: 'This browser does not expose WebGPU (navigator.gpu is missing).' };
  let adapter: GPUAdapter | null;
  try {
    adapter = await entry.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { ok: false, reason: `Requesting a WebGPU adapter failed (${error instanceof Error ? error.message : String(error)}).` };
  }
  if (!adapter) return { ok: false, reason: 'WebGPU is present but offers no usable GPU adapter (requestAdapter() returned null).' };

  const requiredLimits: Record<string, number> = {};
  for (const key of RAISED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[key];
    if (typeof value === 'number') requiredLimits[key] = value;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: 'Shardscope.device', requiredFeatures, requiredLimits });
  } catch (error) {
    return { ok: false, reason: `The GPU adapter refused to create a device (${error instanceof Error ? error.message : String(error)}).` };
  }
  entryOfDevice.set(device, entry);
  return { ok: true, device, adapter, adapterName: describeAdapter(adapter) };
}

/** Iteration counts of the self-test; the first exceeds 65,536 on purpose (see headless-webgpu.md). */
export const SELF_TEST_EXPECTED: readonly number[] = [100_000, 100_000, 499_500, 4096];

export const SELF_TEST_WGSL = /* wgsl */ `
// Known-answer test. out[0]: a 100,000-iteration loop; out[1]: nested 1000 x 100 loop;
// out[2]: sum of 0..999; out[3]: one atomic add per invocation of 64 workgroups x 64 invocations.
// Dawn's GL ES backend on llvmpipe returns 65,535 and 1 for the first two: the bug this catches.
@group(0) @binding(0) var<storage, read_write> out: array<atomic<u32>, 4>; // [4] u32
struct Limits { n: u32, outer: u32, inner: u32, m: u32 }
@group(0) @binding(1) var<uniform> lim: Limits;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  atomicAdd(&out[3], 1u);
  if (gid.x != 0u) { return; }
  var a = 0u;
  for (var i = 0u; i < lim.n; i++) { a += 1u; }
  var b = 0u;
  for (var i = 0u; i < lim.outer; i++) { for (var j = 0u; j < lim.inner; j++) { b += 1u; } }
  var c = 0u;
  for (var i = 0u; i < lim.m; i++) { c += i; }
  atomicStore(&out[0], a);
  atomicStore(&out[1], b);
  atomicStore(&out[2], c);
}
`;

/** A tiny compute dispatch with a known answer. Destroys everything it creates. */
export async function runSelfTest(device: GPUDevice): Promise<{ ok: boolean; expected: number[]; got: number[] }> {
  const expected = [...SELF_TEST_EXPECTED];
  const module = device.createShaderModule({ label: 'SelfTest.module', code: SELF_TEST_WGSL });
  const pipeline = device.createComputePipeline({ label: 'SelfTest.pipeline', layout: 'auto', compute: { module, entryPoint: 'main' } });
  // [4] u32
  const out = device.createBuffer({ label: 'SelfTest.out', size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  // [n, outer, inner, m] u32 (uniform, so the compiler cannot fold the loops)
  const limits = device.createBuffer({ label: 'SelfTest.limits', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  // [4] u32
  const readback = device.createBuffer({ label: 'SelfTest.readback', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(limits, 0, new Uint32Array([100_000, 1000, 100, 1000]));
    device.queue.writeBuffer(out, 0, new Uint32Array(4));
    const bindGroup = device.createBindGroup({
      label: 'SelfTest.bindGroup',
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: out } },
        { binding: 1, resource: { buffer: limits } },
      ],
    });
    const encoder = device.createCommandEncoder({ label: 'SelfTest.encoder' });
    const pass = encoder.beginComputePass({ label: 'SelfTest.pass' });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(64);
    pass.end();
    encoder.copyBufferToBuffer(out, 0, readback, 0, 16);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const got = Array.from(new Uint32Array(readback.getMappedRange().slice(0)));
    readback.unmap();
    return { ok: got.length === expected.length && got.every((v, i) => v === expected[i]), expected, got };
  } finally {
    out.destroy();
    limits.destroy();
    readback.destroy();
  }
}
