// Every WGSL file compiles on the adapter, the adapter counts past 65,536 exactly, and the tile
// configuration respects device.limits.
import { describe, expect, it } from 'vitest';
import { SELF_TEST_EXPECTED, runSelfTest } from './device.ts';
import { AttentionKernels, BACKWARD_STORAGE_BUFFERS, MAX_BK, backwardTileConfig, specialiseBlockSource, tileConfig } from './kernels.ts';
import { SHADER_SOURCES } from './shaders.ts';
import { getTestGpu } from './testing.ts';

const gpu = await getTestGpu();

describe.skipIf(!gpu)('WGSL on the test adapter', () => {
  const device = gpu?.device as GPUDevice;

  it('reports the adapter it runs on', () => {
    expect(gpu?.adapterName).toMatch(/\S/);
    console.info(`GPU tests run on: ${gpu?.adapterName}`);
  });

  it('compiles every shader without errors (getCompilationInfo)', async () => {
    const sources: [string, string][] = [
      ['block_attention.wgsl', SHADER_SOURCES.blockAttention],
      ['finalise.wgsl', SHADER_SOURCES.finalise],
      ['naive_attention.wgsl', SHADER_SOURCES.naiveAttention],
      // The block shader as specialised for small, odd and large head dimensions.
      ...[1, 2, 16, 32, 128].map((d4): [string, string] => [`block_attention.wgsl (D4=${d4})`, specialiseBlockSource(SHADER_SOURCES.blockAttention, d4)]),
      ['attention_backward.wgsl', SHADER_SOURCES.attentionBackward],
      ['backward_preprocess.wgsl', SHADER_SOURCES.backwardPreprocess],
      ['backward_add.wgsl', SHADER_SOURCES.backwardAdd],
      ['naive_backward.wgsl', SHADER_SOURCES.naiveBackward],
      ...[1, 32].map((d4): [string, string] => [`attention_backward.wgsl (D4=${d4})`, specialiseBlockSource(SHADER_SOURCES.attentionBackward, d4)]),
    ];
    for (const [name, code] of sources) {
      const module = device.createShaderModule({ label: name, code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${name}:${m.lineNum}:${m.linePos} ${m.message}`);
      expect(errors, name).toEqual([]);
    }
  });

  it('builds every pipeline with empty validation scopes', async () => {
    const kernels = new AttentionKernels(device, SHADER_SOURCES);
    device.pushErrorScope('validation');
    kernels.block(16);
    kernels.block(6);
    kernels.block(128);
    void kernels.naive;
    expect(await device.popErrorScope()).toBeNull();
    const messages = await kernels.compilationMessages();
    expect(messages.filter((m) => m.type === 'error')).toEqual([]);
  });

  it('known answer: a WGSL loop of 100,000 iterations returns exactly 100,000 (and nested 1000×100 loops 100,000)', async () => {
    const r = await runSelfTest(device);
    expect(r.got).toEqual([...SELF_TEST_EXPECTED]);
    expect(r.got[0]).toBeGreaterThan(65_536);
    expect(r.ok).toBe(true);
  });

  it('sizes tiles from device.limits', () => {
    for (const d of [4, 6, 16, 64, 128, 512]) {
      const t = tileConfig(device.limits, d);
      expect(t.wgQ).toBeLessThanOrEqual(device.limits.maxComputeInvocationsPerWorkgroup);
      expect(t.workgroupBytes).toBeLessThanOrEqual(device.limits.maxComputeWorkgroupStorageSize);
      expect(t.bk).toBeGreaterThanOrEqual(1);
      expect(t.bk).toBeLessThanOrEqual(MAX_BK);
      expect(t.d4 * 4).toBeGreaterThanOrEqual(d);
    }
  });
});

describe('backward tile configuration without an adapter', () => {
  const limits = (storage: number, invocations: number): GPUSupportedLimits =>
    ({ maxComputeWorkgroupStorageSize: storage, maxComputeInvocationsPerWorkgroup: invocations, maxComputeWorkgroupSizeX: invocations }) as GPUSupportedLimits;
  it('sizes the streamed tile from the workgroup storage (power of two ≤ 64 rows) and refuses what cannot fit', () => {
    for (const [storage, d, bt] of [[16384, 64, 16], [32768, 64, 32], [32768, 128, 16], [16384, 512, 2], [65536, 16, 64]] as const) {
      const t = backwardTileConfig(limits(storage, 256), d);
      expect(t.bt, `${storage} B, d ${d}`).toBe(bt);
      expect(t.workgroupBytes).toBeLessThanOrEqual(storage);
    }
    expect(backwardTileConfig(limits(16384, 32), 64).wg).toBe(32);
    expect(() => backwardTileConfig(limits(1000, 256), 512)).toThrow(/workgroup storage/);
    expect(BACKWARD_STORAGE_BUFFERS).toBe(8); // WebGPU's default maxStorageBuffersPerShaderStage
  });
});

describe('tile configuration without an adapter', () => {
  const limits = (storage: number, invocations: number): GPUSupportedLimits =>
    ({ maxComputeWorkgroupStorageSize: storage, maxComputeInvocationsPerWorkgroup: invocations, maxComputeWorkgroupSizeX: invocations }) as GPUSupportedLimits;
  it('fits 16 KiB (the WebGPU default) for head dim 512 and refuses what cannot fit', () => {
    const t = tileConfig(limits(16384, 256), 512);
    expect(t.workgroupBytes).toBeLessThanOrEqual(16384);
    expect(t.bk).toBe(2);
    expect(() => tileConfig(limits(1024, 256), 512)).toThrow(/workgroup storage/);
  });
  it('uses fewer invocations when the adapter allows fewer, and a power-of-two number of keys', () => {
    expect(tileConfig(limits(16384, 32), 64).wgQ).toBe(32);
    expect(tileConfig(limits(16384, 256), 64).bk).toBe(16);
    expect(tileConfig(limits(32768, 256), 64).bk).toBe(32);
  });
});
