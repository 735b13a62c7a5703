// Shared by the GPU tests (node + Dawn): one device per test file, or a clear skip when this machine
// has no adapter — except in CI (SHARDSCOPE_REQUIRE_GPU=1), where a missing adapter fails the run.
// Node-only: imports Dawn's `webgpu` package. Never imported by the page.

import { existsSync } from 'node:fs';
import type { GpuInit } from './device.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Points the Vulkan loader at Chromium's SwiftShader when nothing else is configured. Must run before
 * the Dawn instance is created. Returns a note on what was chosen. Never Dawn's GL ES backend: it
 * returns silently wrong results (see ../shared/docs/headless-webgpu.md).
 */
export function configureVulkanEnv(): string {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const set = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  if (set) return `Vulkan driver from VK_ICD_FILENAMES/VK_DRIVER_FILES (${set})`;
  if (existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    return `SwiftShader from the Chromium install (${SWIFTSHADER_ICD})`;
  }
  return 'the system Vulkan drivers';
}

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
    const env = configureVulkanEnv();
    let init: GpuInit;
    let gpu: GPU;
    try {
      const webgpu = await import('webgpu');
      Object.assign(globalThis, webgpu.globals);
      gpu = webgpu.create([]);
      const { requestGpu } = await import('./device.ts');
      init = await requestGpu(gpu);
    } catch (error) {
      init = { ok: false, reason: `Dawn's node binding failed to load (${error instanceof Error ? error.message : String(error)}).` };
      gpu = undefined as unknown as GPU;
    }
    if (!init.ok) {
      const message = `No WebGPU adapter in node (${init.reason}; tried ${env}). Install chromium and libvulkan1 (see ../shared/docs/headless-webgpu.md).`;
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
