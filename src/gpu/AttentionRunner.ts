// AttentionRunner: executes an ExecPlan (src/model/execution.ts, built from a strategy's Schedule) on
// the GPU. Every simulated rank has its own buffers for what it holds; each step is encoded as
//   1. local copies that assemble operand buffers (when a rank's K/V is not already one buffer),
//   2. ONE block-attention dispatch per rank (its Q rows × the K/V block it holds), then the finalise
//      dispatch of every state that saw its last block,
//   3. the step's collectives as copyBufferToBuffer from the source rank's buffer to the destination's,
// and submitted on its own, so buffers whose last use has passed are destroyed between steps (the GPU
// memory tracks what the ranks hold). It also runs the unsharded reference (one dispatch of the same
// flash-style kernel over the whole sequence) and the naive one-thread-per-query kernel.
//
// Every buffer is labelled `AttentionRunner.member[rank]` and goes through a BufferTracker; a run
// destroys everything it created, also when it throws.

import type { BackwardComputeOp, CopyOp, ExecPlan, GradientStepNorms, Piece, PreprocessOp } from '../model/execution.ts';
import { gradientNorm, gradientSnapshots, l2 } from '../model/execution.ts';
import type { AttentionGradients } from '../model/referenceBackward.ts';
import type { AttentionInputs } from '../model/random.ts';
import type { SoftmaxTrace, TracePoint } from '../model/reference.ts';
import { TRACE_ACC_VALUES, gatherGradients, gatherOutput, shardData } from '../model/reference.ts';
import type { Segment, TokenSet } from '../model/schedule.ts';
import { BufferTracker } from './buffers.ts';
import type { AttentionKernels, TileConfig, TileOptions } from './kernels.ts';
import { BACKWARD_PARAMS_BYTES, BACKWARD_SLOT, BLOCK_FLAGS, BLOCK_PARAMS_BYTES, GpuLimitError, UNIFORM_SLOT, writeBackwardParams, writeBlockParams } from './kernels.ts';

/** Read at call time: in node, GPUBufferUsage exists only after Dawn's globals are installed. */
const storageUsage = (): number => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const SEG_BYTES = 16;

export interface RunOptions {
  readonly localMask?: boolean;
  /** Use timestamp queries when the device has them (default true). */
  readonly timestamps?: boolean;
  /** Tile-size caps below the device limits (benchmark exploration, tests of small tiles). */
  readonly tiles?: TileOptions;
  /** Checked before each step is submitted: once true, nothing more is submitted and the run throws RunCancelled. */
  readonly cancelled?: () => boolean;
  /** Awaited after each step's submission, with the dispatches submitted so far: the caller paces the queue and lets newer requests in. */
  readonly afterSubmit?: (step: number, dispatches: number) => Promise<void>;
  /**
   * dL/dO, [heads, seq, headDim] f32: with it the plan's backward steps run after the forward ones
   * and the result carries dQ, dK, dV.
   */
  readonly outputGrad?: Float32Array;
}

/** Thrown by AttentionRunner.run when RunOptions.cancelled turned true: the run's result is gone by design. */
export class RunCancelled extends Error {
  constructor(step: number) {
    super(`cancelled before step ${step}: newer parameters replaced this run`);
    this.name = 'RunCancelled';
  }
}

export interface ShardedBackward extends AttentionGradients {
  /** GPU time from the first backward step's start to the final gather's end (timestamp queries), or null. */
  readonly gpuMs: number | null;
  readonly wallMs: number;
  /** Preprocess, backward and reduction dispatches. */
  readonly dispatches: number;
  readonly copies: number;
  /** Element-wise reduction dispatches (dst += src) among the dispatches. */
  readonly reductions: number;
  /** Per backward step, the gradient buffers every rank holds and their norms (null when too large to snapshot). */
  readonly gradientNorms: GradientStepNorms[] | null;
}

export interface UnshardedBackward extends AttentionGradients {
  /** GPU time of the backward dispatches (preprocess + backward), or null. */
  readonly gpuMs: number | null;
  readonly wallMs: number;
}

/** Snapshots of per-step gradient buffers above this size are skipped (norms only, read once at the end). */
const SNAPSHOT_LIMIT_BYTES = 64 * 2 ** 20;

/** 2D dispatch of `groups` workgroups within maxComputeWorkgroupsPerDimension. */
function grid(groups: number, maxGroups: number): { gx: number; gy: number } {
  const gx = Math.max(1, Math.min(groups, maxGroups));
  return { gx, gy: Math.max(1, Math.ceil(groups / gx)) };
}

export interface ShardedResult {
  /** Merged output in global order, [heads, seq, headDim] f32. */
  readonly o: Float32Array;
  readonly trace: SoftmaxTrace | null;
  /** GPU time from the first step's start to the last step's end (timestamp queries), or null. */
  readonly gpuMs: number | null;
  /** Wall time from the first submit until the queue drained. */
  readonly wallMs: number;
  readonly dispatches: number;
  readonly copies: number;
  readonly tiles: TileConfig;
  /** With RunOptions.outputGrad: the gradients and how they were computed. */
  readonly backward: ShardedBackward | null;
}

export interface UnshardedResult {
  /** [heads, seq, headDim] f32 */
  readonly o: Float32Array;
  /** [heads, seq] f32, only from the flash-style kernel */
  readonly lse: Float32Array | null;
  readonly gpuMs: number | null;
  readonly wallMs: number;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** Segments with the buffer position of their first token (the WGSL Seg struct). */
function packSegments(view: DataView, byteOffset: number, set: TokenSet): number {
  let pos = 0;
  set.forEach((s: Segment, i) => {
    const at = byteOffset + i * SEG_BYTES;
    view.setUint32(at, s.start, true);
    view.setUint32(at + 4, s.count, true);
    view.setUint32(at + 8, s.stride, true);
    view.setUint32(at + 12, pos, true);
    pos += s.count;
  });
  return set.length;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export class AttentionRunner {
  constructor(
    readonly device: GPUDevice,
    readonly kernels: AttentionKernels,
  ) {}

  /** Throws GpuLimitError when a buffer or dispatch of the plan exceeds the device's limits. */
  checkLimits(plan: ExecPlan, opts: RunOptions = {}): TileConfig {
    const lim = this.device.limits;
    const tiles = this.kernels.block(plan.headDim, opts.tiles).tiles;
    const maxBinding = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
    const full = plan.heads * plan.seq * plan.headDim * 4;
    // The limits are treated as exclusive (≥ refuses): a buffer exactly at the limit is where
    // implementations disagree (rounding, offset alignment), and the run never needs that much.
    if (full >= maxBinding) {
      throw new GpuLimitError(
        `The executed size is too large for this GPU: one [${plan.heads} heads, ${plan.seq} tokens, ${plan.headDim}] f32 tensor takes ${mib(full)}, ` +
          `but a storage buffer may hold at most ${mib(maxBinding)} (maxStorageBufferBindingSize / maxBufferSize). Lower the executed sequence length.`,
      );
    }
    for (const p of plan.pieces) {
      if (p.elements * 4 >= maxBinding) {
        throw new GpuLimitError(`${p.label} needs ${mib(p.elements * 4)}, above this GPU's ${mib(maxBinding)} storage-buffer limit. Lower the executed sequence length.`);
      }
    }
    const maxGroups = lim.maxComputeWorkgroupsPerDimension;
    const rowsGroups = Math.ceil(plan.seq / tiles.wgQ);
    if (rowsGroups > maxGroups || plan.heads > maxGroups) {
      throw new GpuLimitError(`${plan.seq} tokens need ${rowsGroups} workgroups in one dimension, above this GPU's maxComputeWorkgroupsPerDimension (${maxGroups}).`);
    }
    return tiles;
  }

  /** Executes the plan's forward steps; returns the merged O and the softmax trace. */
  async run(plan: ExecPlan, inputs: AttentionInputs, opts: RunOptions = {}): Promise<ShardedResult> {
    if (inputs.seq !== plan.seq || inputs.heads !== plan.heads || inputs.kvHeads !== plan.kvHeads || inputs.headDim !== plan.headDim) {
      throw new Error(`inputs [${inputs.heads}/${inputs.kvHeads} heads, ${inputs.seq} tokens, d ${inputs.headDim}] do not match the plan [${plan.heads}/${plan.kvHeads}, ${plan.seq}, ${plan.headDim}]`);
    }
    const tiles = this.checkLimits(plan, opts);
    if (opts.outputGrad) {
      if (!plan.backward) throw new Error(plan.backwardError ?? `${plan.strategy}: the schedule has no backward steps`);
      if (opts.outputGrad.length !== plan.heads * plan.seq * plan.headDim) throw new Error(`outputGrad has ${opts.outputGrad.length} values; [${plan.heads}, ${plan.seq}, ${plan.headDim}] needs ${plan.heads * plan.seq * plan.headDim}`);
      this.checkBackwardLimits(plan, opts);
    }
    const { pipeline } = this.kernels.block(plan.headDim, opts.tiles);
    const device = this.device;
    const tracker = new BufferTracker(device);
    const localMask = opts.localMask ?? false;
    let querySet: GPUQuerySet | null = null;
    try {
      // Uniforms: one 256-byte slot per block dispatch and per finalise dispatch.
      const blockOps = plan.steps.flatMap((s) => s.compute);
      const finOps = plan.steps.flatMap((s) => s.finalise);
      const slots = blockOps.length + finOps.length;
      const uniformData = new ArrayBuffer(Math.max(1, slots) * UNIFORM_SLOT);
      const uview = new DataView(uniformData);
      // Segments: per block dispatch, its q then kv segments, each dispatch's region 256-byte aligned.
      const segAlign = Math.max(256, device.limits.minStorageBufferOffsetAlignment);
      const segOffsets: number[] = [];
      let segBytes = 0;
      for (const op of blockOps) {
        segOffsets.push(segBytes);
        segBytes += align((op.qTokens.length + op.kvTokens.length) * SEG_BYTES, segAlign);
      }
      const segData = new ArrayBuffer(Math.max(segAlign, segBytes));
      const sview = new DataView(segData);
      blockOps.forEach((op, i) => {
        const at = segOffsets[i] as number;
        const nq = packSegments(sview, at, op.qTokens);
        const nkv = packSegments(sview, at + nq * SEG_BYTES, op.kvTokens);
        const flags = (op.init ? BLOCK_FLAGS.init : 0) | (localMask ? BLOCK_FLAGS.localMask : 0);
        writeBlockParams(uview, i * UNIFORM_SLOT, {
          tq: op.tq,
          tkv: op.tkv,
          d: plan.headDim,
          flags,
          heads: plan.heads,
          kvHeads: plan.kvHeads,
          headStart: op.heads.start,
          computeHeads: op.heads.end - op.heads.start,
          qHeadBase: op.qHeadBase,
          kvHeadBase: op.kvHeadBase,
          qSegCount: nq,
          kvSegCount: nkv,
        });
      });
      const finWg = this.kernels.finaliseWorkgroup;
      const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
      const finDispatch = finOps.map((f, i) => {
        const piece = plan.pieces[f.acc] as Piece;
        const rows = piece.elements / plan.headDim;
        const groups = Math.ceil((rows * plan.headDim) / finWg);
        const gx = Math.min(groups, maxGroups);
        const gy = Math.ceil(groups / gx);
        const at = (blockOps.length + i) * UNIFORM_SLOT;
        uview.setUint32(at, rows, true);
        uview.setUint32(at + 4, plan.headDim, true);
        uview.setUint32(at + 8, gx, true);
        return { gx, gy };
      });
      // [slots] × 256 B: block Params / finalise Params
      const uniforms = tracker.create('AttentionRunner.uniforms', uniformData.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(uniforms, 0, uniformData);
      // [dispatches] × aligned array<Seg>: token → global position per dispatch
      const segments = tracker.create('AttentionRunner.segments', segData.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(segments, 0, segData);

      // Trace: [forward steps, 2 + TRACE_ACC_VALUES] f32 = m, l, acc[0..]
      const traceWidth = 2 + TRACE_ACC_VALUES;
      const trace = plan.trace;
      const traceBuf = tracker.create('AttentionRunner.trace', Math.max(1, plan.steps.length) * traceWidth * 4, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);

      const useTimestamps = (opts.timestamps ?? true) && device.features.has('timestamp-query');
      querySet = useTimestamps ? device.createQuerySet({ label: 'AttentionRunner.timestamps', type: 'timestamp', count: 2 }) : null;
      // [2] u64 timestamps
      const queryBuf = querySet ? tracker.create('AttentionRunner.timestampResolve', 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC) : null;

      const buffers = new Map<number, GPUBuffer>();
      const bufferOf = (id: number): GPUBuffer => {
        const b = buffers.get(id);
        if (!b) throw new Error(`internal: ${(plan.pieces[id] as Piece).label} used before it was allocated`);
        return b;
      };
      const allocate = (p: Piece): void => {
        // [heads, tokens, width] f32 — p.label names the rank; shards are uploaded from the inputs.
        const b = tracker.create(p.label, p.elements * 4, storageUsage());
        if (p.role === 'shard' && p.elements > 0) device.queue.writeBuffer(b, 0, shardData(p, inputs, opts.outputGrad) as Float32Array<ArrayBuffer>);
        buffers.set(p.id, b);
      };
      const piecesByAlloc = new Map<number, Piece[]>();
      for (const p of plan.pieces) {
        const list = piecesByAlloc.get(p.allocStep);
        if (list) list.push(p);
        else piecesByAlloc.set(p.allocStep, [p]);
      }

      let dispatches = 0;
      let copies = 0;
      let blockIndex = 0;
      let finIndex = 0;
      let t0 = 0;
      for (const step of plan.steps) {
        if (opts.cancelled?.()) throw new RunCancelled(step.index);
        for (const p of piecesByAlloc.get(step.index) ?? []) allocate(p);
        const encoder = device.createCommandEncoder({ label: `AttentionRunner.encoder[step ${step.index}]` });
        if (querySet && step.index === 0) {
          encoder.beginComputePass({ label: 'AttentionRunner.startPass', timestampWrites: { querySet: querySet, beginningOfPassWriteIndex: 0 } }).end();
        }
        for (const c of step.assemble) encoder.copyBufferToBuffer(bufferOf(c.src), c.srcOffset * 4, bufferOf(c.dst), c.dstOffset * 4, c.count * 4);
        if (step.compute.length || step.finalise.length) {
          const pass = encoder.beginComputePass({ label: `AttentionRunner.pass[step ${step.index}]` });
          pass.setPipeline(pipeline);
          for (const op of step.compute) {
            const segAt = segOffsets[blockIndex] as number;
            const bind = device.createBindGroup({
              label: `AttentionRunner.blockBindGroup[${op.rank}]`,
              layout: pipeline.getBindGroupLayout(0),
              entries: [
                { binding: 0, resource: { buffer: uniforms, offset: blockIndex * UNIFORM_SLOT, size: BLOCK_PARAMS_BYTES } },
                { binding: 1, resource: { buffer: segments, offset: segAt, size: (op.qTokens.length + op.kvTokens.length) * SEG_BYTES } },
                { binding: 2, resource: { buffer: bufferOf(op.q) } },
                { binding: 3, resource: { buffer: bufferOf(op.k) } },
                { binding: 4, resource: { buffer: bufferOf(op.v) } },
                { binding: 5, resource: { buffer: bufferOf(op.m) } },
                { binding: 6, resource: { buffer: bufferOf(op.l) } },
                { binding: 7, resource: { buffer: bufferOf(op.acc) } },
              ],
            });
            pass.setBindGroup(0, bind);
            pass.dispatchWorkgroups(Math.ceil(op.tq / tiles.wgQ), op.heads.end - op.heads.start);
            blockIndex++;
            dispatches++;
          }
          if (step.finalise.length) pass.setPipeline(this.kernels.finalisePipeline);
          for (const f of step.finalise) {
            const { gx, gy } = finDispatch[finIndex] as { gx: number; gy: number };
            const bind = device.createBindGroup({
              label: `AttentionRunner.finaliseBindGroup[${f.rank}]`,
              layout: this.kernels.finalisePipeline.getBindGroupLayout(0),
              entries: [
                { binding: 0, resource: { buffer: uniforms, offset: (blockOps.length + finIndex) * UNIFORM_SLOT, size: 16 } },
                { binding: 1, resource: { buffer: bufferOf(f.m) } },
                { binding: 2, resource: { buffer: bufferOf(f.l) } },
                { binding: 3, resource: { buffer: bufferOf(f.acc) } },
                { binding: 4, resource: { buffer: bufferOf(f.o) } },
                { binding: 5, resource: { buffer: bufferOf(f.lse) } },
              ],
            });
            pass.setBindGroup(0, bind);
            pass.dispatchWorkgroups(gx, gy);
            finIndex++;
            dispatches++;
          }
          pass.end();
        }
        if (trace && step.index >= trace.firstStep && step.index <= trace.lastStep) {
          const dst = step.index * traceWidth * 4;
          const r = trace.rowIndex;
          encoder.copyBufferToBuffer(bufferOf(trace.m), r * 4, traceBuf, dst, 4);
          encoder.copyBufferToBuffer(bufferOf(trace.l), r * 4, traceBuf, dst + 4, 4);
          const n = Math.min(TRACE_ACC_VALUES, plan.headDim);
          encoder.copyBufferToBuffer(bufferOf(trace.acc), r * plan.headDim * 4, traceBuf, dst + 8, n * 4);
        }
        for (const c of step.transfers) encoder.copyBufferToBuffer(bufferOf(c.src), c.srcOffset * 4, bufferOf(c.dst), c.dstOffset * 4, c.count * 4);
        copies += step.assemble.length + step.transfers.length;
        if (querySet && queryBuf && step.index === plan.steps.length - 1) {
          encoder.beginComputePass({ label: 'AttentionRunner.endPass', timestampWrites: { querySet, endOfPassWriteIndex: 1 } }).end();
          encoder.resolveQuerySet(querySet, 0, 2, queryBuf, 0);
        }
        if (step.index === 0) t0 = now();
        device.queue.submit([encoder.finish()]);
        // What no later step reads is released (destroy after submit is safe: the GPU finishes first).
        for (const p of plan.pieces) {
          if (p.lastUse <= step.index && buffers.has(p.id)) {
            tracker.destroy(bufferOf(p.id));
            buffers.delete(p.id);
          }
        }
        await opts.afterSubmit?.(step.index, dispatches);
      }
      if (opts.cancelled?.()) throw new RunCancelled(plan.steps.length);

      // Read back the final O buffers, the trace and the timestamps in one map.
      const outputs = plan.outputs.map((id) => plan.pieces[id] as Piece);
      const outBytes = outputs.reduce((n, p) => n + p.elements * 4, 0);
      const traceBytes = plan.steps.length * traceWidth * 4;
      const tsAt = align(outBytes + traceBytes, 8);
      const readback = tracker.create('AttentionRunner.readback', tsAt + 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      const encoder = device.createCommandEncoder({ label: 'AttentionRunner.readbackEncoder' });
      let at = 0;
      for (const p of outputs) {
        if (p.elements > 0) encoder.copyBufferToBuffer(bufferOf(p.id), 0, readback, at, p.elements * 4);
        at += p.elements * 4;
      }
      if (traceBytes > 0) encoder.copyBufferToBuffer(traceBuf, 0, readback, outBytes, traceBytes);
      if (queryBuf) encoder.copyBufferToBuffer(queryBuf, 0, readback, tsAt, 16);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const wallMs = now() - t0;
      await readback.mapAsync(GPUMapMode.READ);
      const mapped = readback.getMappedRange().slice(0);
      readback.unmap();

      let off = 0;
      const views = new Map<number, Float32Array>();
      for (const p of outputs) {
        views.set(p.id, new Float32Array(mapped, off, p.elements));
        off += p.elements * 4;
      }
      const o = gatherOutput(plan, (p) => views.get(p.id) as Float32Array);
      const traceData = new Float32Array(mapped, outBytes, plan.steps.length * traceWidth);
      const points: TracePoint[] = [];
      if (trace) {
        for (let s = trace.firstStep; s <= trace.lastStep; s++) {
          const b = s * traceWidth;
          points.push({ step: s, m: traceData[b] as number, l: traceData[b + 1] as number, acc: Array.from(traceData.subarray(b + 2, b + 2 + Math.min(TRACE_ACC_VALUES, plan.headDim))) });
        }
      }
      let gpuMs: number | null = null;
      if (queryBuf) {
        const ts = new BigUint64Array(mapped, tsAt, 2);
        const dt = Number((ts[1] as bigint) - (ts[0] as bigint)) / 1e6;
        gpuMs = Number.isFinite(dt) && dt > 0 ? dt : null;
      }
      if (opts.outputGrad && opts.cancelled?.()) throw new RunCancelled(plan.steps.length);
      // The backward's dispatch count continues the forward's (RunOptions.afterSubmit: "so far").
      const forwardDispatches = dispatches;
      const afterSubmit = opts.afterSubmit && ((step: number, backwardDispatches: number) => (opts.afterSubmit as NonNullable<RunOptions['afterSubmit']>)(step, forwardDispatches + backwardDispatches));
      const backward = opts.outputGrad
        ? await this.#runBackward(plan, { tracker, allocate, bufferOf, buffers, piecesByAlloc, localMask, tiles: opts.tiles, timestamps: opts.timestamps, cancelled: opts.cancelled, afterSubmit })
        : null;
      return { o, trace: trace ? { rank: trace.rank, token: trace.token, head: trace.head, points } : null, gpuMs, wallMs, dispatches, copies, tiles, backward };
    } finally {
      querySet?.destroy();
      tracker.destroyAll();
    }
  }

  /**
   * Unsharded reference: the flash-style kernel over the whole sequence in ONE dispatch
   * (flags INIT | FINALIZE), or the naive one-thread-per-query kernel (`naive`, head dim ≤ 128).
   */
  async runUnsharded(inputs: AttentionInputs, opts: RunOptions & { naive?: boolean } = {}): Promise<UnshardedResult> {
    const { heads: H, kvHeads: KVH, seq: S, headDim: D } = inputs;
    const device = this.device;
    const lim = device.limits;
    const maxBinding = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    if (H * S * D * 4 >= maxBinding) {
      throw new GpuLimitError(`The unsharded [${H}, ${S}, ${D}] f32 tensor takes ${((H * S * D * 4) / 2 ** 20).toFixed(1)} MiB, above this GPU's ${(maxBinding / 2 ** 20).toFixed(1)} MiB storage-buffer limit.`);
    }
    if (opts.naive && D > 128) throw new GpuLimitError(`The naive kernel keeps its accumulator in a 128-float private array; head dimension ${D} is larger.`);
    const tracker = new BufferTracker(device);
    let querySet: GPUQuerySet | null = null;
    try {
      const upload = (label: string, data: Float32Array): GPUBuffer => {
        const b = tracker.create(label, data.byteLength, storageUsage());
        device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
        return b;
      };
      const q = upload('AttentionRunner.fullQ', inputs.q); // [heads, seq, d]
      const k = upload('AttentionRunner.fullK', inputs.k); // [kvHeads, seq, d]
      const v = upload('AttentionRunner.fullV', inputs.v); // [kvHeads, seq, d]
      const o = tracker.create('AttentionRunner.fullO', H * S * D * 4, storageUsage()); // [heads, seq, d]
      const lse = tracker.create('AttentionRunner.fullLse', H * S * 4, storageUsage()); // [heads, seq]
      const l = tracker.create('AttentionRunner.fullL', H * S * 4, storageUsage()); // [heads, seq]
      const uniforms = tracker.create('AttentionRunner.fullUniforms', UNIFORM_SLOT, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      const segs = tracker.create('AttentionRunner.fullSegments', 2 * SEG_BYTES, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST); // [2] Seg
      const udata = new DataView(new ArrayBuffer(UNIFORM_SLOT));
      const useTimestamps = (opts.timestamps ?? true) && device.features.has('timestamp-query');
      querySet = useTimestamps ? device.createQuerySet({ label: 'AttentionRunner.fullTimestamps', type: 'timestamp', count: 2 }) : null;
      const queryBuf = querySet ? tracker.create('AttentionRunner.fullTimestampResolve', 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC) : null; // [2] u64
      const encoder = device.createCommandEncoder({ label: 'AttentionRunner.fullEncoder' });
      const pass = encoder.beginComputePass({
        label: opts.naive ? 'AttentionRunner.naivePass' : 'AttentionRunner.fullPass',
        ...(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {}),
      });
      if (opts.naive) {
        const pipeline = this.kernels.naive;
        // Params { seq, d, heads, kvHeads, scale }
        [S, D, H, KVH].forEach((x, i) => udata.setUint32(i * 4, x, true));
        udata.setFloat32(16, 1 / Math.sqrt(D), true);
        device.queue.writeBuffer(uniforms, 0, udata.buffer);
        pass.setPipeline(pipeline);
        pass.setBindGroup(
          0,
          device.createBindGroup({
            label: 'AttentionRunner.naiveBindGroup',
            layout: pipeline.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: { buffer: uniforms, offset: 0, size: 32 } },
              { binding: 1, resource: { buffer: q } },
              { binding: 2, resource: { buffer: k } },
              { binding: 3, resource: { buffer: v } },
              { binding: 4, resource: { buffer: o } },
            ],
          }),
        );
        pass.dispatchWorkgroups(Math.ceil(S / this.kernels.naiveWorkgroup), H);
      } else {
        const { pipeline, tiles } = this.kernels.block(D, opts.tiles);
        const groups = Math.ceil(S / tiles.wgQ);
        if (groups > lim.maxComputeWorkgroupsPerDimension) {
          throw new GpuLimitError(`${S} tokens need ${groups} workgroups in one dimension, above maxComputeWorkgroupsPerDimension (${lim.maxComputeWorkgroupsPerDimension}).`);
        }
        writeBlockParams(udata, 0, {
          tq: S,
          tkv: S,
          d: D,
          flags: BLOCK_FLAGS.init | BLOCK_FLAGS.finalize | (opts.localMask ? BLOCK_FLAGS.localMask : 0),
          heads: H,
          kvHeads: KVH,
          headStart: 0,
          computeHeads: H,
          qHeadBase: 0,
          kvHeadBase: 0,
          qSegCount: 1,
          kvSegCount: 1,
        });
        device.queue.writeBuffer(uniforms, 0, udata.buffer);
        device.queue.writeBuffer(segs, 0, new Uint32Array([0, S, 1, 0, 0, S, 1, 0]));
        pass.setPipeline(pipeline);
        pass.setBindGroup(
          0,
          device.createBindGroup({
            label: 'AttentionRunner.fullBindGroup',
            layout: pipeline.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: { buffer: uniforms, offset: 0, size: BLOCK_PARAMS_BYTES } },
              { binding: 1, resource: { buffer: segs } },
              { binding: 2, resource: { buffer: q } },
              { binding: 3, resource: { buffer: k } },
              { binding: 4, resource: { buffer: v } },
              { binding: 5, resource: { buffer: lse } },
              { binding: 6, resource: { buffer: l } },
              { binding: 7, resource: { buffer: o } },
            ],
          }),
        );
        pass.dispatchWorkgroups(groups, H);
      }
      pass.end();
      const outBytes = H * S * D * 4;
      const lseBytes = opts.naive ? 0 : H * S * 4;
      const tsAt = align(outBytes + lseBytes, 8);
      const readback = tracker.create('AttentionRunner.fullReadback', tsAt + 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      if (querySet && queryBuf) encoder.resolveQuerySet(querySet, 0, 2, queryBuf, 0);
      const t0 = now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const wallMs = now() - t0;
      const enc2 = device.createCommandEncoder({ label: 'AttentionRunner.fullReadbackEncoder' });
      enc2.copyBufferToBuffer(o, 0, readback, 0, outBytes);
      if (lseBytes) enc2.copyBufferToBuffer(lse, 0, readback, outBytes, lseBytes);
      if (queryBuf) enc2.copyBufferToBuffer(queryBuf, 0, readback, tsAt, 16);
      device.queue.submit([enc2.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      const mapped = readback.getMappedRange().slice(0);
      readback.unmap();
      let gpuMs: number | null = null;
      if (queryBuf) {
        const ts = new BigUint64Array(mapped, tsAt, 2);
        const dt = Number((ts[1] as bigint) - (ts[0] as bigint)) / 1e6;
        gpuMs = Number.isFinite(dt) && dt > 0 ? dt : null;
      }
      return { o: new Float32Array(mapped, 0, H * S * D), lse: lseBytes ? new Float32Array(mapped, outBytes, H * S) : null, gpuMs, wallMs };
    } finally {
      querySet?.destroy();
      tracker.destroyAll();
    }
  }

  /** Throws GpuLimitError when the backward kernel cannot run this plan here (storage buffers, workgroups, segments). */
  checkBackwardLimits(plan: ExecPlan, opts: Pick<RunOptions, 'tiles'> = {}): void {
    const { tiles } = this.kernels.backward(plan.headDim, opts.tiles);
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    for (const step of plan.backward?.steps ?? []) {
      for (const op of step.compute) {
        const x = Math.ceil(op.tkv / tiles.wg) + Math.ceil(op.tq / tiles.wg);
        if (x > maxGroups) throw new GpuLimitError(`The backward of ${op.tq} × ${op.tkv} tokens needs ${x} workgroups in one dimension, above this GPU's maxComputeWorkgroupsPerDimension (${maxGroups}).`);
      }
    }
  }

  /** Encodes and runs the plan's backward steps on the buffers the forward run left (see the class header). */
  async #runBackward(
    plan: ExecPlan,
    ctx: {
      tracker: BufferTracker;
      allocate: (p: Piece) => void;
      bufferOf: (id: number) => GPUBuffer;
      buffers: Map<number, GPUBuffer>;
      piecesByAlloc: Map<number, Piece[]>;
      localMask: boolean;
      tiles: TileOptions | undefined;
      timestamps: boolean | undefined;
      /** As in RunOptions: the backward is paced and cancelled step by step like the forward. */
      cancelled: RunOptions['cancelled'];
      afterSubmit: RunOptions['afterSubmit'];
    },
  ): Promise<ShardedBackward> {
    const b = plan.backward;
    if (!b) throw new Error(plan.backwardError ?? 'no backward steps');
    const device = this.device;
    const { tracker, allocate, bufferOf, buffers, piecesByAlloc } = ctx;
    const { pipeline, tiles } = this.kernels.backward(plan.headDim, ctx.tiles);
    const wg = this.kernels.finaliseWorkgroup;
    const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    const D = plan.headDim;

    // Uniforms: a 256-aligned slot per preprocess, backward and reduction dispatch, in encoding order.
    const slots: { size: number; write: (view: DataView, at: number) => void }[] = [];
    const slotOf = new Map<object, number>();
    const addSlot = (key: object, size: number, write: (view: DataView, at: number) => void): void => {
      slotOf.set(key, slots.length);
      slots.push({ size, write });
    };
    const addOps = (ops: readonly CopyOp[]): void => {
      for (const c of ops) {
        const { gx } = grid(Math.ceil(c.count / wg), maxGroups);
        addSlot(c, 16, (v, at) => [c.srcOffset, c.dstOffset, c.count, gx].forEach((x, i) => v.setUint32(at + i * 4, x, true)));
      }
    };
    for (const step of b.steps) {
      for (const p of step.preprocess) {
        const { gx } = grid(Math.ceil((p.computeHeads * p.tq) / wg), maxGroups);
        addSlot(p, 32, (v, at) => [p.tq, D, p.computeHeads, p.dOHeadOffset, gx].forEach((x, i) => v.setUint32(at + i * 4, x, true)));
      }
      for (const op of step.compute) {
        addSlot(op, BACKWARD_PARAMS_BYTES, (v, at) =>
          writeBackwardParams(
            v,
            at,
            {
              tq: op.tq,
              tkv: op.tkv,
              d: D,
              flags: (op.init ? BLOCK_FLAGS.init : 0) | (ctx.localMask ? BLOCK_FLAGS.localMask : 0),
              heads: plan.heads,
              kvHeads: plan.kvHeads,
              headStart: op.heads.start,
              computeHeads: op.heads.end - op.heads.start,
              qHeadBase: op.qHeadBase,
              kvHeadBase: op.kvHeadBase,
              dOHeadBase: op.dOHeadBase,
              kvOutBase: op.kvOut.start,
              kvOutCount: op.kvOut.end - op.kvOut.start,
              kvGroups: Math.ceil(op.tkv / tiles.wg),
            },
            op.qTokens,
            op.kvTokens,
          ),
        );
      }
      addOps(step.reduce);
    }
    addOps(b.gather.adds);
    const slotBytes = slots.map((x) => Math.ceil(x.size / 256) * 256);
    const slotOffsets: number[] = [];
    let total = 0;
    for (const size of slotBytes) {
      slotOffsets.push(total);
      total += size;
    }
    const uniformData = new ArrayBuffer(Math.max(256, total));
    const uview = new DataView(uniformData);
    slots.forEach((x, i) => x.write(uview, slotOffsets[i] as number));
    // [dispatches] × 256-aligned slots: preprocess / backward / add Params
    const uniforms = tracker.create('AttentionRunner.backwardUniforms', uniformData.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(uniforms, 0, uniformData);
    const uniformAt = (key: object, size: number): GPUBufferBinding => ({ buffer: uniforms, offset: slotOffsets[slotOf.get(key) as number] as number, size });

    // Gradient snapshots for the norms: every step's gradient buffers copied into one buffer, read once.
    const snapshots = gradientSnapshots(plan);
    const snapshotBytes = snapshots.reduce((n, s) => n + s.pieces.reduce((m, p) => m + p.elements * 4, 0), 0);
    const snapshotOn = snapshotBytes > 0 && snapshotBytes <= Math.min(SNAPSHOT_LIMIT_BYTES, device.limits.maxBufferSize);
    // [Σ steps Σ gradient pieces elements] f32
    const snapshotBuf = snapshotOn ? tracker.create('AttentionRunner.gradientSnapshots', snapshotBytes, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST) : null;
    const snapshotAt = new Map<number, number>();
    {
      let at = 0;
      for (const s of snapshots) {
        snapshotAt.set(s.step, at);
        at += s.pieces.reduce((m, p) => m + p.elements * 4, 0);
      }
    }

    const useTimestamps = (ctx.timestamps ?? true) && device.features.has('timestamp-query');
    const querySet = useTimestamps ? device.createQuerySet({ label: 'AttentionRunner.backwardTimestamps', type: 'timestamp', count: 2 }) : null;
    try {
      // [2] u64 timestamps
      const queryBuf = querySet ? tracker.create('AttentionRunner.backwardTimestampResolve', 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC) : null;
      let dispatches = 0;
      let copies = 0;
      let reductions = 0;
      const encodeAdds = (pass: GPUComputePassEncoder, ops: readonly CopyOp[], what: string): void => {
        if (!ops.length) return;
        pass.setPipeline(this.kernels.add);
        for (const c of ops) {
          const { gx, gy } = grid(Math.ceil(c.count / wg), maxGroups);
          pass.setBindGroup(
            0,
            device.createBindGroup({
              label: `AttentionRunner.${what}BindGroup[${(plan.pieces[c.dst] as Piece).rank}]`,
              layout: this.kernels.add.getBindGroupLayout(0),
              entries: [
                { binding: 0, resource: uniformAt(c, 16) },
                { binding: 1, resource: { buffer: bufferOf(c.src) } },
                { binding: 2, resource: { buffer: bufferOf(c.dst) } },
              ],
            }),
          );
          pass.dispatchWorkgroups(gx, gy);
          dispatches++;
          reductions++;
        }
      };
      const encodeSnapshot = (encoder: GPUCommandEncoder, index: number): void => {
        if (!snapshotBuf) return;
        let at = snapshotAt.get(index) ?? 0;
        for (const p of snapshots.find((s) => s.step === index)?.pieces ?? []) {
          encoder.copyBufferToBuffer(bufferOf(p.id), 0, snapshotBuf, at, p.elements * 4);
          at += p.elements * 4;
        }
      };
      const release = (index: number): void => {
        for (const p of plan.pieces) {
          if (p.lastUse <= index && buffers.has(p.id)) {
            tracker.destroy(bufferOf(p.id));
            buffers.delete(p.id);
          }
        }
      };

      const t0 = now();
      for (const [si, step] of b.steps.entries()) {
        if (ctx.cancelled?.()) throw new RunCancelled(step.index);
        for (const p of piecesByAlloc.get(step.index) ?? []) allocate(p);
        const encoder = device.createCommandEncoder({ label: `AttentionRunner.backwardEncoder[step ${step.index}]` });
        if (querySet && si === 0) encoder.beginComputePass({ label: 'AttentionRunner.backwardStartPass', timestampWrites: { querySet, beginningOfPassWriteIndex: 0 } }).end();
        for (const c of step.assemble) encoder.copyBufferToBuffer(bufferOf(c.src), c.srcOffset * 4, bufferOf(c.dst), c.dstOffset * 4, c.count * 4);
        if (step.preprocess.length || step.compute.length || step.reduce.length) {
          const pass = encoder.beginComputePass({ label: `AttentionRunner.backwardPass[step ${step.index}]` });
          if (step.preprocess.length) pass.setPipeline(this.kernels.preprocess);
          for (const p of step.preprocess) this.#encodePreprocess(pass, p, uniformAt(p, 32), bufferOf, maxGroups);
          if (step.compute.length) pass.setPipeline(pipeline);
          for (const op of step.compute) {
            this.#encodeBackward(pass, pipeline, op, uniformAt(op, BACKWARD_PARAMS_BYTES), bufferOf, tiles.wg);
            dispatches++;
          }
          dispatches += step.preprocess.length;
          encodeAdds(pass, step.reduce, 'reduce');
          pass.end();
        }
        for (const c of step.transfers) encoder.copyBufferToBuffer(bufferOf(c.src), c.srcOffset * 4, bufferOf(c.dst), c.dstOffset * 4, c.count * 4);
        copies += step.assemble.length + step.transfers.length;
        encodeSnapshot(encoder, step.index);
        device.queue.submit([encoder.finish()]);
        release(step.index);
        await ctx.afterSubmit?.(step.index, dispatches);
      }
      if (ctx.cancelled?.()) throw new RunCancelled(b.gather.index);

      // The final gather: each rank sums its shard's partial sums into its dQ, dK, dV.
      for (const p of piecesByAlloc.get(b.gather.index) ?? []) allocate(p);
      const encoder = device.createCommandEncoder({ label: 'AttentionRunner.gatherEncoder' });
      for (const c of b.gather.copies) encoder.copyBufferToBuffer(bufferOf(c.src), c.srcOffset * 4, bufferOf(c.dst), c.dstOffset * 4, c.count * 4);
      copies += b.gather.copies.length;
      const pass = encoder.beginComputePass({ label: 'AttentionRunner.gatherPass', ...(querySet ? { timestampWrites: { querySet, endOfPassWriteIndex: 1 } } : {}) });
      encodeAdds(pass, b.gather.adds, 'gather');
      pass.end();
      encodeSnapshot(encoder, b.gather.index);
      if (querySet && queryBuf) encoder.resolveQuerySet(querySet, 0, 2, queryBuf, 0);

      const finals = [...b.gradients.dq, ...b.gradients.dk, ...b.gradients.dv].map((id) => plan.pieces[id] as Piece);
      const outBytes = finals.reduce((n, p) => n + p.elements * 4, 0);
      const snapAt = align(outBytes, 8);
      const tsAt = align(snapAt + (snapshotBuf ? snapshotBytes : 0), 8);
      const readback = tracker.create('AttentionRunner.backwardReadback', tsAt + 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      let at = 0;
      for (const p of finals) {
        encoder.copyBufferToBuffer(bufferOf(p.id), 0, readback, at, p.elements * 4);
        at += p.elements * 4;
      }
      if (snapshotBuf) encoder.copyBufferToBuffer(snapshotBuf, 0, readback, snapAt, snapshotBytes);
      if (queryBuf) encoder.copyBufferToBuffer(queryBuf, 0, readback, tsAt, 16);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const wallMs = now() - t0;
      await readback.mapAsync(GPUMapMode.READ);
      const mapped = readback.getMappedRange().slice(0);
      readback.unmap();
      const views = new Map<number, Float32Array>();
      at = 0;
      for (const p of finals) {
        views.set(p.id, new Float32Array(mapped, at, p.elements));
        at += p.elements * 4;
      }
      const grads = gatherGradients(plan, (p) => views.get(p.id) as Float32Array);
      let gradientNorms: GradientStepNorms[] | null = null;
      if (snapshotBuf) {
        gradientNorms = snapshots.map((s) => {
          let off = snapAt + (snapshotAt.get(s.step) ?? 0);
          return {
            step: s.step,
            pieces: s.pieces.map((p) => {
              const norm = l2(new Float32Array(mapped, off, p.elements));
              off += p.elements * 4;
              return gradientNorm(p, norm);
            }),
          };
        });
      }
      let gpuMs: number | null = null;
      if (queryBuf) {
        const ts = new BigUint64Array(mapped, tsAt, 2);
        const dt = Number((ts[1] as bigint) - (ts[0] as bigint)) / 1e6;
        gpuMs = Number.isFinite(dt) && dt > 0 ? dt : null;
      }
      return { ...grads, gpuMs, wallMs, dispatches, copies, reductions, gradientNorms };
    } finally {
      querySet?.destroy();
    }
  }

  #encodePreprocess(pass: GPUComputePassEncoder, p: Pick<PreprocessOp, 'dO' | 'o' | 'lse' | 'stats' | 'tq' | 'computeHeads' | 'rank'>, uniform: GPUBufferBinding, bufferOf: (id: number) => GPUBuffer, maxGroups: number): void {
    const { gx, gy } = grid(Math.ceil((p.computeHeads * p.tq) / this.kernels.finaliseWorkgroup), maxGroups);
    pass.setBindGroup(
      0,
      this.device.createBindGroup({
        label: `AttentionRunner.preprocessBindGroup[${p.rank}]`,
        layout: this.kernels.preprocess.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: uniform },
          { binding: 1, resource: { buffer: bufferOf(p.dO) } },
          { binding: 2, resource: { buffer: bufferOf(p.o) } },
          { binding: 3, resource: { buffer: bufferOf(p.lse) } },
          { binding: 4, resource: { buffer: bufferOf(p.stats) } },
        ],
      }),
    );
    pass.dispatchWorkgroups(gx, gy);
  }

  #encodeBackward(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, op: Pick<BackwardComputeOp, 'rank' | 'q' | 'k' | 'v' | 'dO' | 'stats' | 'dq' | 'dk' | 'dv' | 'tq' | 'tkv' | 'heads' | 'kvOut'>, uniform: GPUBufferBinding, bufferOf: (id: number) => GPUBuffer, wgRows: number): void {
    pass.setBindGroup(
      0,
      this.device.createBindGroup({
        label: `AttentionRunner.backwardBindGroup[${op.rank}]`,
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: uniform },
          { binding: 1, resource: { buffer: bufferOf(op.q) } },
          { binding: 2, resource: { buffer: bufferOf(op.k) } },
          { binding: 3, resource: { buffer: bufferOf(op.v) } },
          { binding: 4, resource: { buffer: bufferOf(op.dO) } },
          { binding: 5, resource: { buffer: bufferOf(op.stats) } },
          { binding: 6, resource: { buffer: bufferOf(op.dq) } },
          { binding: 7, resource: { buffer: bufferOf(op.dk) } },
          { binding: 8, resource: { buffer: bufferOf(op.dv) } },
        ],
      }),
    );
    const x = Math.ceil(op.tkv / wgRows) + Math.ceil(op.tq / wgRows);
    pass.dispatchWorkgroups(x, Math.max(op.kvOut.end - op.kvOut.start, op.heads.end - op.heads.start));
  }

  /**
   * Unsharded backward reference: the flash forward over the whole sequence (O, lse), then D and ONE
   * backward dispatch over the whole sequence — or the naive one-thread-per-row backward (`naive`, d ≤ 128).
   * gpuMs covers the backward dispatches only.
   */
  async runUnshardedBackward(inputs: AttentionInputs, outputGrad: Float32Array, opts: RunOptions & { naive?: boolean; forward?: { o: Float32Array; lse: Float32Array | null } } = {}): Promise<UnshardedBackward> {
    const { heads: H, kvHeads: KVH, seq: S, headDim: D } = inputs;
    const device = this.device;
    const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    if (opts.naive && D > 128) throw new GpuLimitError(`The naive backward keeps its accumulators in 128-float private arrays; head dimension ${D} is larger.`);
    const forward = opts.forward?.lse ? opts.forward : await this.runUnsharded(inputs, { tiles: opts.tiles, timestamps: false, localMask: opts.localMask });
    const tracker = new BufferTracker(device);
    let querySet: GPUQuerySet | null = null;
    try {
      const upload = (label: string, data: Float32Array): GPUBuffer => {
        const b = tracker.create(label, data.byteLength, storageUsage());
        device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
        return b;
      };
      const ids = ['q', 'k', 'v', 'dO', 'o', 'lse', 'stats', 'dq', 'dk', 'dv'] as const;
      const bufs: Record<(typeof ids)[number], GPUBuffer> = {
        q: upload('AttentionRunner.fullQ', inputs.q), // [heads, seq, d]
        k: upload('AttentionRunner.fullK', inputs.k), // [kvHeads, seq, d]
        v: upload('AttentionRunner.fullV', inputs.v), // [kvHeads, seq, d]
        dO: upload('AttentionRunner.fullDO', outputGrad), // [heads, seq, d]
        o: upload('AttentionRunner.fullO', forward.o), // [heads, seq, d]
        lse: upload('AttentionRunner.fullLse', forward.lse as Float32Array), // [heads, seq]
        stats: tracker.create('AttentionRunner.fullStats', H * S * 8, storageUsage()), // [heads, seq] (lse, D)
        dq: tracker.create('AttentionRunner.fullDQ', H * S * D * 4, storageUsage()), // [heads, seq, d]
        dk: tracker.create('AttentionRunner.fullDK', KVH * S * D * 4, storageUsage()), // [kvHeads, seq, d]
        dv: tracker.create('AttentionRunner.fullDV', KVH * S * D * 4, storageUsage()), // [kvHeads, seq, d]
      };
      const bufferOf = (id: number): GPUBuffer => bufs[ids[id] as (typeof ids)[number]];
      const id = (name: (typeof ids)[number]): number => ids.indexOf(name);
      // [3 slots] × BACKWARD_SLOT: preprocess, backward (or naive) Params
      const uniforms = tracker.create('AttentionRunner.fullBackwardUniforms', 2 * BACKWARD_SLOT, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      const udata = new DataView(new ArrayBuffer(2 * BACKWARD_SLOT));
      const pre = { rank: 0, dO: id('dO'), o: id('o'), lse: id('lse'), stats: id('stats'), tq: S, computeHeads: H };
      [S, D, H, 0, grid(Math.ceil((H * S) / this.kernels.finaliseWorkgroup), maxGroups).gx].forEach((x, i) => udata.setUint32(i * 4, x, true));
      const useTimestamps = (opts.timestamps ?? true) && device.features.has('timestamp-query');
      querySet = useTimestamps ? device.createQuerySet({ label: 'AttentionRunner.fullBackwardTimestamps', type: 'timestamp', count: 2 }) : null;
      const queryBuf = querySet ? tracker.create('AttentionRunner.fullBackwardTimestampResolve', 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC) : null; // [2] u64
      const encoder = device.createCommandEncoder({ label: 'AttentionRunner.fullBackwardEncoder' });
      const pass = encoder.beginComputePass({
        label: opts.naive ? 'AttentionRunner.naiveBackwardPass' : 'AttentionRunner.fullBackwardPass',
        ...(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {}),
      });
      pass.setPipeline(this.kernels.preprocess);
      this.#encodePreprocess(pass, pre, { buffer: uniforms, offset: 0, size: 32 }, bufferOf, maxGroups);
      const whole = [{ start: 0, count: S, stride: 1 }];
      if (opts.naive) {
        const pipeline = this.kernels.naiveBackward;
        const wg = this.kernels.naiveWorkgroup;
        const keyThreads = Math.ceil(S / wg) * wg;
        const at = BACKWARD_SLOT;
        [S, D, H, KVH].forEach((x, i) => udata.setUint32(at + i * 4, x, true));
        udata.setFloat32(at + 16, 1 / Math.sqrt(D), true);
        udata.setUint32(at + 20, keyThreads, true);
        pass.setPipeline(pipeline);
        pass.setBindGroup(
          0,
          device.createBindGroup({
            label: 'AttentionRunner.naiveBackwardBindGroup',
            layout: pipeline.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: { buffer: uniforms, offset: at, size: 32 } },
              ...(['q', 'k', 'v', 'dO', 'stats', 'dq', 'dk', 'dv'] as const).map((name, i) => ({ binding: i + 1, resource: { buffer: bufs[name] } })),
            ],
          }),
        );
        const groups = keyThreads / wg + Math.ceil(S / wg);
        if (groups > maxGroups) throw new GpuLimitError(`${S} tokens need ${groups} workgroups in one dimension, above maxComputeWorkgroupsPerDimension (${maxGroups}).`);
        pass.dispatchWorkgroups(groups, H);
      } else {
        const { pipeline, tiles } = this.kernels.backward(D, opts.tiles);
        const op = { rank: 0, q: id('q'), k: id('k'), v: id('v'), dO: id('dO'), stats: id('stats'), dq: id('dq'), dk: id('dk'), dv: id('dv'), tq: S, tkv: S, heads: { start: 0, end: H }, kvOut: { start: 0, end: KVH } };
        const groups = 2 * Math.ceil(S / tiles.wg);
        if (groups > maxGroups) throw new GpuLimitError(`${S} tokens need ${groups} workgroups in one dimension, above maxComputeWorkgroupsPerDimension (${maxGroups}).`);
        writeBackwardParams(
          udata,
          BACKWARD_SLOT,
          { tq: S, tkv: S, d: D, flags: BLOCK_FLAGS.init | (opts.localMask ? BLOCK_FLAGS.localMask : 0), heads: H, kvHeads: KVH, headStart: 0, computeHeads: H, qHeadBase: 0, kvHeadBase: 0, dOHeadBase: 0, kvOutBase: 0, kvOutCount: KVH, kvGroups: Math.ceil(S / tiles.wg) },
          whole,
          whole,
        );
        pass.setPipeline(pipeline);
        this.#encodeBackward(pass, pipeline, op, { buffer: uniforms, offset: BACKWARD_SLOT, size: BACKWARD_PARAMS_BYTES }, bufferOf, tiles.wg);
      }
      pass.end();
      device.queue.writeBuffer(uniforms, 0, udata.buffer);
      const qBytes = H * S * D * 4;
      const kvBytes = KVH * S * D * 4;
      const tsAt = align(qBytes + 2 * kvBytes, 8);
      const readback = tracker.create('AttentionRunner.fullBackwardReadback', tsAt + 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      if (querySet && queryBuf) encoder.resolveQuerySet(querySet, 0, 2, queryBuf, 0);
      encoder.copyBufferToBuffer(bufs.dq, 0, readback, 0, qBytes);
      encoder.copyBufferToBuffer(bufs.dk, 0, readback, qBytes, kvBytes);
      encoder.copyBufferToBuffer(bufs.dv, 0, readback, qBytes + kvBytes, kvBytes);
      if (queryBuf) encoder.copyBufferToBuffer(queryBuf, 0, readback, tsAt, 16);
      const t0 = now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const wallMs = now() - t0;
      await readback.mapAsync(GPUMapMode.READ);
      const mapped = readback.getMappedRange().slice(0);
      readback.unmap();
      let gpuMs: number | null = null;
      if (queryBuf) {
        const ts = new BigUint64Array(mapped, tsAt, 2);
        const dt = Number((ts[1] as bigint) - (ts[0] as bigint)) / 1e6;
        gpuMs = Number.isFinite(dt) && dt > 0 ? dt : null;
      }
      return { dq: new Float32Array(mapped, 0, H * S * D), dk: new Float32Array(mapped, qBytes, KVH * S * D), dv: new Float32Array(mapped, qBytes + kvBytes, KVH * S * D), gpuMs, wallMs };
    } finally {
      querySet?.destroy();
      tracker.destroyAll();
    }
  }
}
