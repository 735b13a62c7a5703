// Node-only WebGPU (CLI, tests, benchmark): Dawn's `webgpu` package on Vulkan. A real GPU is used when
// the machine has one (a GPU device node exists and the system Vulkan drivers are left alone);
// otherwise the Vulkan loader is pointed at SwiftShader from the Chromium install. This must happen
// before the Dawn instance is created. Never Dawn's GL ES backend: on Mesa llvmpipe it returns
// silently wrong results (../shared/docs/headless-webgpu.md).

import { existsSync, readdirSync } from 'node:fs';
import type { GpuInit } from './device.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface VulkanChoice {
  readonly mode: 'explicit' | 'system' | 'swiftshader' | 'none';
  /** One sentence for logs: which driver and why. */
  readonly note: string;
}

function gpuDeviceNode(): string | null {
  if (existsSync('/dev/nvidia0')) return '/dev/nvidia0';
  try {
    const render = readdirSync('/dev/dri').find((f) => f.startsWith('renderD'));
    if (render) return `/dev/dri/${render}`;
  } catch {
    // no /dev/dri
  }
  return null;
}

/** Chooses the Vulkan driver through the environment (idempotent). */
export function configureVulkanEnv(): VulkanChoice {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const set = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  if (set) {
    const mode = set === SWIFTSHADER_ICD ? 'swiftshader' : 'explicit';
    return { mode, note: mode === 'swiftshader' ? `SwiftShader from the Chromium install (VK_ICD_FILENAMES=${set})` : `the Vulkan driver named by VK_ICD_FILENAMES/VK_DRIVER_FILES (${set})` };
  }
  const node = gpuDeviceNode();
  if (node) return { mode: 'system', note: `the system Vulkan drivers (GPU device ${node} found)` };
  if (existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    return { mode: 'swiftshader', note: `SwiftShader from the Chromium install (no GPU device found; set VK_ICD_FILENAMES=${SWIFTSHADER_ICD})` };
  }
  return { mode: 'none', note: 'no GPU device and no Chromium SwiftShader (install chromium and libvulkan1)' };
}

export interface NodeGpu {
  readonly init: GpuInit;
  readonly vulkan: VulkanChoice;
  /** Dawn's GPU object, or null when the binding failed to load. */
  readonly gpu: GPU | null;
}

/** Creates Dawn's instance (after choosing the driver) and requests a device. Never throws. */
export async function createNodeGpu(): Promise<NodeGpu> {
  const vulkan = configureVulkanEnv();
  try {
    const webgpu = await import('webgpu');
    Object.assign(globalThis, webgpu.globals);
    const gpu = webgpu.create([]);
    const { requestGpu } = await import('./device.ts');
    return { init: await requestGpu(gpu), vulkan, gpu };
  } catch (error) {
    return { init: { ok: false, reason: `Dawn's node binding (the webgpu package) failed to load (${error instanceof Error ? error.message : String(error)}).` }, vulkan, gpu: null };
  }
}
