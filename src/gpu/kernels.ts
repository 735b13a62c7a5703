// AttentionKernels: owns the compiled attention pipelines of one device and encodes their dispatches.
// Tile sizes are WGSL override constants chosen here from device.limits (SwiftShader: 256 invocations,
// 16–32 KiB of workgroup storage; real GPUs give more). One instance per (device, sources), cached.

import type { ShaderSources } from './sources.ts';

/** Tile configuration of shaders/block_attention.wgsl for one head dimension. */
export interface TileConfig {
  readonly headDim: number;
  /** Query rows per workgroup = invocations per workgroup (one row each). */
  readonly wgQ: number;
  /** ceil(headDim / 4): vec4 entries per row (the shader's const D4). */
  readonly d4: number;
  /** Keys per K/V tile in workgroup memory. */
  readonly bk: number;
  /** Workgroup memory used, bytes. */
  readonly workgroupBytes: number;
}

export class GpuLimitError extends Error {
  override readonly name = 'GpuLimitError';
}

/** 4 × the shader's MAX_BK4: the private score array of one tile. */
export const MAX_BK = 64;

/** Workgroup bytes of block_attention.wgsl for a configuration (Ks + Vs + kpos). */
export function workgroupBytes(d4: number, bk: number): number {
  return 2 * bk * d4 * 16 + bk * 4;
}

/**
 * Chooses WG_Q and BK from the limits: WG_Q = min(64, maxComputeInvocationsPerWorkgroup) query rows
 * (one invocation each; 64 keeps SwiftShader's barrier cost low and real GPUs busy), and the largest
 * K/V tile (≤ 64 keys, a power of two) whose K and V rows fit maxComputeWorkgroupStorageSize.
 */
export interface TileOptions {
  /** Cap on invocations per workgroup (default 64). */
  readonly maxInvocations?: number;
  /** Cap on workgroup storage bytes, below the device's (tests of small tiles; 16384 = WebGPU's default). */
  readonly maxStorage?: number;
}

export function tileConfig(limits: GPUSupportedLimits, headDim: number, options: TileOptions = {}): TileConfig {
  const d4 = Math.ceil(headDim / 4);
  const storage = Math.min(limits.maxComputeWorkgroupStorageSize, options.maxStorage ?? Infinity);
  const invocations = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX, options.maxInvocations ?? 64);
  const wgQ = Math.max(1, invocations);
  let bk = Math.min(MAX_BK, Math.floor(storage / (2 * d4 * 16 + 4)));
  // A power of two: the shader takes keys 4 at a time, and tiles then line up with block and chunk
  // boundaries (shards of s/P, zigzag chunks of s/2P), so fewer tiles straddle a mask edge. Measured on
  // SwiftShader at s = 1024, P = 8, d = 64: BK 32 instead of 60 took the ring from 1.7× to 1.1× the
  // unsharded time. Tiles of 1–3 keys also work (masked), for head dim 512 in 16 KiB.
  bk = bk >= 1 ? 2 ** Math.floor(Math.log2(bk)) : 0;
  if (bk < 1) {
    throw new GpuLimitError(`Head dimension ${headDim} does not fit this GPU's ${storage} bytes of workgroup storage (one K and V row take ${d4 * 32} bytes).`);
  }
  return { headDim, wgQ, d4, bk, workgroupBytes: workgroupBytes(d4, bk) };
}

/** The block shader specialised to a head dimension: its `const D4` line rewritten. */
export function specialiseBlockSource(source: string, d4: number): string {
  const pattern = /const D4: u32 = \d+u;/;
  if (!pattern.test(source)) throw new Error('block_attention.wgsl lacks its "const D4: u32 = …u;" line');
  return source.replace(pattern, `const D4: u32 = ${d4}u;`);
}

/** Flags of the block kernel's Params.flags (see the WGSL header). */
export const BLOCK_FLAGS = { init: 1, finalize: 2, localMask: 4 } as const;

/** Size of one uniform slot; every dispatch gets its own, 256-byte aligned (minUniformBufferOffsetAlignment ≤ 256). */
export const UNIFORM_SLOT = 256;
/** Params of block_attention.wgsl: 16 × u32/f32 = 64 bytes. */
export const BLOCK_PARAMS_BYTES = 64;

export interface BlockParams {
  readonly tq: number;
  readonly tkv: number;
  readonly d: number;
  readonly flags: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headStart: number;
  readonly computeHeads: number;
  readonly qHeadBase: number;
  readonly kvHeadBase: number;
  readonly qSegCount: number;
  readonly kvSegCount: number;
}

/** Writes a block Params struct at `byteOffset` (field order = the WGSL struct; one source of truth). */
export function writeBlockParams(view: DataView, byteOffset: number, p: BlockParams): void {
  const u = [p.tq, p.tkv, p.d, p.flags, p.heads, p.kvHeads, p.headStart, p.computeHeads, p.qHeadBase, p.kvHeadBase, p.qSegCount, p.kvSegCount];
  u.forEach((x, i) => view.setUint32(byteOffset + i * 4, x, true));
  view.setFloat32(byteOffset + 48, 1 / Math.sqrt(p.d), true);
}

/** Tile configuration of shaders/attention_backward.wgsl for one head dimension. */
export interface BackwardTileConfig {
  readonly headDim: number;
  /** Rows (= invocations) per workgroup: key rows (dK/dV workgroups) or query rows (dQ workgroups). */
  readonly wg: number;
  /** Rows streamed per tile through workgroup memory. */
  readonly bt: number;
  readonly d4: number;
  readonly workgroupBytes: number;
}

/** Workgroup bytes of attention_backward.wgsl (two row tiles, positions, (lse, D) pairs). */
export function backwardWorkgroupBytes(d4: number, bt: number): number {
  return 2 * bt * d4 * 16 + bt * 4 + bt * 8;
}

/**
 * WG = min(64, maxComputeInvocationsPerWorkgroup) rows per workgroup, and the largest power-of-two tile
 * (≤ 64 rows) of two d-wide rows whose bytes fit maxComputeWorkgroupStorageSize (same reasoning as
 * tileConfig: power-of-two tiles line up with shard and chunk boundaries).
 */
export function backwardTileConfig(limits: GPUSupportedLimits, headDim: number, options: TileOptions = {}): BackwardTileConfig {
  const d4 = Math.ceil(headDim / 4);
  const storage = Math.min(limits.maxComputeWorkgroupStorageSize, options.maxStorage ?? Infinity);
  const wg = Math.max(1, Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX, options.maxInvocations ?? 64));
  let bt = Math.min(64, Math.floor(storage / (2 * d4 * 16 + 12)));
  bt = bt >= 1 ? 2 ** Math.floor(Math.log2(bt)) : 0;
  if (bt < 1) throw new GpuLimitError(`Head dimension ${headDim} does not fit this GPU's ${storage} bytes of workgroup storage for the backward pass (one Q and dO row take ${d4 * 32 + 12} bytes).`);
  return { headDim, wg, bt, d4, workgroupBytes: backwardWorkgroupBytes(d4, bt) };
}

/** Token segments the backward uniform block holds per dispatch (the shader's MAX_SEGS). */
export const BACKWARD_MAX_SEGS = 32;
/** Params of attention_backward.wgsl: 20 scalars then MAX_SEGS × Seg (16 bytes). */
export const BACKWARD_PARAMS_BYTES = 80 + BACKWARD_MAX_SEGS * 16;
/** One backward uniform slot, 256-byte aligned. */
export const BACKWARD_SLOT = Math.ceil(BACKWARD_PARAMS_BYTES / 256) * 256;
/** Storage buffers the backward kernel binds (WebGPU's default maxStorageBuffersPerShaderStage). */
export const BACKWARD_STORAGE_BUFFERS = 8;

export interface BackwardParams {
  readonly tq: number;
  readonly tkv: number;
  readonly d: number;
  readonly flags: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headStart: number;
  readonly computeHeads: number;
  readonly qHeadBase: number;
  readonly kvHeadBase: number;
  readonly dOHeadBase: number;
  readonly kvOutBase: number;
  readonly kvOutCount: number;
  readonly kvGroups: number;
}

/** Writes the backward Params (field order = the WGSL struct) with the q then kv segments. */
export function writeBackwardParams(view: DataView, byteOffset: number, p: BackwardParams, qSegs: readonly { start: number; count: number; stride: number }[], kvSegs: readonly { start: number; count: number; stride: number }[]): void {
  if (qSegs.length + kvSegs.length > BACKWARD_MAX_SEGS) {
    throw new GpuLimitError(`A backward dispatch needs ${qSegs.length + kvSegs.length} token segments; the kernel holds at most ${BACKWARD_MAX_SEGS}.`);
  }
  const u = [p.tq, p.tkv, p.d, p.flags, p.heads, p.kvHeads, p.headStart, p.computeHeads, p.qHeadBase, p.kvHeadBase, p.dOHeadBase, p.kvOutBase, p.kvOutCount, qSegs.length, kvSegs.length, p.kvGroups];
  u.forEach((x, i) => view.setUint32(byteOffset + i * 4, x, true));
  view.setFloat32(byteOffset + 64, 1 / Math.sqrt(p.d), true);
  let at = byteOffset + 80;
  for (const list of [qSegs, kvSegs]) {
    let pos = 0;
    for (const seg of list) {
      view.setUint32(at, seg.start, true);
      view.setUint32(at + 4, seg.count, true);
      view.setUint32(at + 8, seg.stride, true);
      view.setUint32(at + 12, pos, true);
      pos += seg.count;
      at += 16;
    }
  }
}

export class AttentionKernels {
  readonly blockModule: GPUShaderModule;
  readonly #blockModules = new Map<number, GPUShaderModule>();
  readonly finaliseModule: GPUShaderModule;
  readonly naiveModule: GPUShaderModule;
  readonly finalisePipeline: GPUComputePipeline;
  readonly finaliseWorkgroup: number;
  readonly naiveWorkgroup: number;
  readonly #block = new Map<string, { pipeline: GPUComputePipeline; tiles: TileConfig }>();
  #naive: GPUComputePipeline | undefined;
  readonly #backward = new Map<string, { pipeline: GPUComputePipeline; tiles: BackwardTileConfig }>();
  #preprocess: GPUComputePipeline | undefined;
  #add: GPUComputePipeline | undefined;
  #naiveBackward: GPUComputePipeline | undefined;

  constructor(
    readonly device: GPUDevice,
    readonly sources: ShaderSources,
  ) {
    this.blockModule = device.createShaderModule({ label: 'AttentionKernels.blockModule', code: sources.blockAttention });
    this.finaliseModule = device.createShaderModule({ label: 'AttentionKernels.finaliseModule', code: sources.finalise });
    this.naiveModule = device.createShaderModule({ label: 'AttentionKernels.naiveModule', code: sources.naiveAttention });
    this.finaliseWorkgroup = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
    this.naiveWorkgroup = Math.min(64, device.limits.maxComputeInvocationsPerWorkgroup);
    this.finalisePipeline = device.createComputePipeline({
      label: 'AttentionKernels.finalisePipeline',
      layout: 'auto',
      compute: { module: this.finaliseModule, entryPoint: 'main', constants: { WG: this.finaliseWorkgroup } },
    });
  }

  /** The block-attention pipeline for a head dimension (created once, then cached). */
  block(headDim: number, options: TileOptions = {}): { pipeline: GPUComputePipeline; tiles: TileConfig } {
    const key = `${headDim}/${options.maxInvocations ?? ''}/${options.maxStorage ?? ''}`;
    let entry = this.#block.get(key);
    if (!entry) {
      const tiles = tileConfig(this.device.limits, headDim, options);
      let module = this.#blockModules.get(tiles.d4);
      if (!module) {
        module = this.device.createShaderModule({ label: `AttentionKernels.blockModule[d4=${tiles.d4}]`, code: specialiseBlockSource(this.sources.blockAttention, tiles.d4) });
        this.#blockModules.set(tiles.d4, module);
      }
      const pipeline = this.device.createComputePipeline({
        label: `AttentionKernels.blockPipeline[d=${headDim}]`,
        layout: 'auto',
        compute: { module, entryPoint: 'main', constants: { WG_Q: tiles.wgQ, BK: tiles.bk } },
      });
      entry = { pipeline, tiles };
      this.#block.set(key, entry);
    }
    return entry;
  }

  /** The backward pipeline for a head dimension (created once, then cached). Throws GpuLimitError when it cannot run here. */
  backward(headDim: number, options: TileOptions = {}): { pipeline: GPUComputePipeline; tiles: BackwardTileConfig } {
    const key = `${headDim}/${options.maxInvocations ?? ''}/${options.maxStorage ?? ''}`;
    let entry = this.#backward.get(key);
    if (!entry) {
      const available = this.device.limits.maxStorageBuffersPerShaderStage;
      if (available < BACKWARD_STORAGE_BUFFERS) {
        throw new GpuLimitError(`The backward kernel binds ${BACKWARD_STORAGE_BUFFERS} storage buffers; this GPU allows ${available} per shader stage.`);
      }
      const tiles = backwardTileConfig(this.device.limits, headDim, options);
      const module = this.device.createShaderModule({ label: `AttentionKernels.backwardModule[d4=${tiles.d4}]`, code: specialiseBlockSource(this.sources.attentionBackward, tiles.d4) });
      const pipeline = this.device.createComputePipeline({
        label: `AttentionKernels.backwardPipeline[d=${headDim}]`,
        layout: 'auto',
        compute: { module, entryPoint: 'main', constants: { WG: tiles.wg, BT: tiles.bt } },
      });
      entry = { pipeline, tiles };
      this.#backward.set(key, entry);
    }
    return entry;
  }

  /** D = rowsum(dO ∘ O) beside lse; one invocation per row, finaliseWorkgroup wide. */
  get preprocess(): GPUComputePipeline {
    this.#preprocess ??= this.#simple('backwardPreprocess', this.sources.backwardPreprocess, this.finaliseWorkgroup);
    return this.#preprocess;
  }

  /** dst += src (gradient reduction); one invocation per element, finaliseWorkgroup wide. */
  get add(): GPUComputePipeline {
    this.#add ??= this.#simple('backwardAdd', this.sources.backwardAdd, this.finaliseWorkgroup);
    return this.#add;
  }

  get naiveBackward(): GPUComputePipeline {
    this.#naiveBackward ??= this.#simple('naiveBackward', this.sources.naiveBackward, this.naiveWorkgroup);
    return this.#naiveBackward;
  }

  #simple(name: string, code: string, wg: number): GPUComputePipeline {
    const module = this.device.createShaderModule({ label: `AttentionKernels.${name}Module`, code });
    return this.device.createComputePipeline({ label: `AttentionKernels.${name}Pipeline`, layout: 'auto', compute: { module, entryPoint: 'main', constants: { WG: wg } } });
  }

  get naive(): GPUComputePipeline {
    this.#naive ??= this.device.createComputePipeline({
      label: 'AttentionKernels.naivePipeline',
      layout: 'auto',
      compute: { module: this.naiveModule, entryPoint: 'main', constants: { WG: this.naiveWorkgroup } },
    });
    return this.#naive;
  }

  /** Compilation messages of every module ('error' entries mean a broken shader). */
  async compilationMessages(): Promise<{ module: string; type: string; line: number; column: number; message: string }[]> {
    const out: { module: string; type: string; line: number; column: number; message: string }[] = [];
    for (const m of [this.blockModule, this.finaliseModule, this.naiveModule]) {
      const info = await m.getCompilationInfo();
      for (const msg of info.messages) out.push({ module: m.label, type: msg.type, line: msg.lineNum, column: msg.linePos, message: msg.message });
    }
    return out;
  }
}

const cache = new WeakMap<GPUDevice, WeakMap<ShaderSources, AttentionKernels>>();

/** The kernels of `device` compiled from `sources`, created once per pair. */
export function kernelsFor(device: GPUDevice, sources: ShaderSources): AttentionKernels {
  let perDevice = cache.get(device);
  if (!perDevice) {
    perDevice = new WeakMap();
    cache.set(device, perDevice);
  }
  let k = perDevice.get(sources);
  if (!k) {
    k = new AttentionKernels(device, sources);
    perDevice.set(sources, k);
  }
  return k;
}
