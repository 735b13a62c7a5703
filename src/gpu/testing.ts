// Shared by the GPU tests (node + Dawn): one device per test file, or a clear skip when this machine
// has no adapter — except in CI (SHARDSCOPE_REQUIRE_GPU=1), where a missing adapter fails the run.
// Node-only: imports Dawn's `webgpu` package. Never imported by the page.

import { createNodeGpu } from './node.ts';

export interface TestGpu {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly adapterName: string;
  /** Dawn's GPU object; keep a reference for as long as the device is used. */
  readonly gpu: GPU;
}

export const requireGpu = (): boolean => process.env.SHARDSCOPE_REQUIRE_GPU === '1';

let cached: Promise<TestGpu | null> | undefined;

/**
 * A device for this test file, or null (with a console warning naming the reason) when there is no
 * adapter. With SHARDSCOPE_REQUIRE_GPU=1 a missing adapter throws instead, so CI cannot pass by skipping.
 */
export function getTestGpu(): Promise<TestGpu | null> {
  cached ??= (async () => {
    const { init, vulkan, gpu } = await createNodeGpu();
    if (!init.ok || !gpu) {
      const message = `No WebGPU adapter in node (${init.ok ? 'no GPU object' : init.reason} Tried ${vulkan.note}). Install chromium and libvulkan1 (see ../shared/docs/headless-webgpu.md).`;
      if (requireGpu()) throw new Error(`SHARDSCOPE_REQUIRE_GPU=1 but ${message}`);
      console.warn(`SKIPPING GPU tests: ${message}`);
      return null;
    }
    return { device: init.device, adapter: init.adapter, adapterName: init.adapterName, gpu };
  })();
  return cached;
}

/** Runs `fn` inside validation and out-of-memory error scopes and returns the errors they caught. */
export async function withErrorScopes<T>(device: GPUDevice, fn: () => Promise<T>): Promise<{ result: T; errors: string[] }> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T | undefined;
  let failure: unknown = null;
  try {
    result = await fn();
  } catch (error) {
    failure = error ?? new Error('unknown failure');
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (failure !== null) throw failure;
  return { result: result as T, errors: [validation, oom].filter((e): e is GPUError => e !== null).map((e) => e.message) };
}
