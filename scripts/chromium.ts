// The system Chromium the browser tests and benches drive (never a downloaded one), and the flags
// that give it real WebGPU on SwiftShader without a GPU (shared/docs/headless-webgpu.md).

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Keeps a headless Chromium off the network (this machine has none) and quiet. */
export const QUIET_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-quic'];

/**
 * A working adapter AND a working WebGPU canvas; without the Vulkan/ANGLE flags the first present loses the device.
 * ANGLE on SwiftShader, not on Vulkan: Debian's Chromium 156.0.8078.114 fails ANGLE's Vulkan display
 * ("Extension not supported: VK_KHR_surface"), the GPU process exits, and every WebGPU device is lost
 * ("A valid external Instance reference no longer exists"). --use-angle=swiftshader presents (checked by pixel).
 */
export const WEBGPU_ARGS = [
  ...QUIET_ARGS,
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader',
];

/** Without --enable-unsafe-webgpu, requestAdapter() gives null on Linux: the no-WebGPU fallback. */
export const NO_WEBGPU_ARGS = [...QUIET_ARGS, '--use-angle=swiftshader'];
