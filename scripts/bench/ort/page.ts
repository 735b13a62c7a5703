// Browser benchmark page: our flash-style WGSL kernel (unsharded, one dispatch) against ONNX Runtime
// Web's WebGPU GroupQueryAttention on the same adapter, same inputs. ORT's output is checked against
// ours and against the float64 reference before its time counts. ORT is loaded from
// scripts/bench/ort/node_modules by URL at run time, so it never enters the app's bundle or types.
// Query: ?seqs=1024,4096&heads=8&headDim=64&reps=2. Result: window.__bench (a promise).

import { requestGpu } from '../../../src/gpu/device.ts';
import { SHADER_SOURCES } from '../../../src/gpu/shaders.ts';
import { kernelsFor } from '../../../src/gpu/kernels.ts';
import { AttentionRunner } from '../../../src/gpu/AttentionRunner.ts';
import { generateInputs, type AttentionInputs } from '../../../src/model/random.ts';
import { causalAttention, compare, referenceRows } from '../../../src/model/reference.ts';
import { gqaModel } from './onnx.ts';

// String arithmetic, not new URL(…, import.meta.url), which vite rewrites as an asset reference.
const ORT_DIST = `${import.meta.url.replace(/[^/]*$/, '')}node_modules/onnxruntime-web/dist/`;

/** The slice of onnxruntime-web's API used here (its types are not imported, so tsc never needs ORT). */
interface OrtTensor {
  readonly data: Float32Array | Int32Array;
  readonly dims: readonly number[];
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  readonly env: { wasm: { wasmPaths: string; numThreads: number }; logLevel: string; webgpu: Record<string, unknown> };
  readonly InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  readonly Tensor: new (type: string, data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
}

export interface SeqResult {
  readonly seq: number;
  readonly gflop: number;
  readonly oursWallMs: number;
  readonly oursGpuMs: number | null;
  readonly oursVsCpu: number;
  readonly ortWallMs: number | null;
  readonly ortVsOurs: number | null;
  readonly ortVsCpu: number | null;
  readonly ortOk: boolean;
  readonly ortError: string | null;
}

export interface BenchResult {
  readonly adapter: string;
  readonly subgroupSizes: string;
  readonly ep: string;
  readonly results: SeqResult[];
  readonly error: string | null;
}

const log = (line: string): void => {
  const el = document.getElementById('log');
  if (el) el.textContent = `${el.textContent === 'running…' ? '' : `${el.textContent}\n`}${line}`;
};

/** [heads, seq, d] → [1, seq, heads·d] (BSNH, what GroupQueryAttention takes) and back. */
function toBsnh(x: Float32Array, heads: number, seq: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let h = 0; h < heads; h++) for (let s = 0; s < seq; s++) out.set(x.subarray((h * seq + s) * d, (h * seq + s + 1) * d), (s * heads + h) * d);
  return out;
}
function fromBsnh(x: Float32Array, heads: number, seq: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let h = 0; h < heads; h++) for (let s = 0; s < seq; s++) out.set(x.subarray((s * heads + h) * d, (s * heads + h + 1) * d), (h * seq + s) * d);
  return out;
}

async function run(): Promise<BenchResult> {
  const q = new URLSearchParams(location.search);
  const seqs = (q.get('seqs') ?? '1024').split(',').map(Number);
  const heads = Number(q.get('heads') ?? 8);
  const headDim = Number(q.get('headDim') ?? 64);
  const reps = Number(q.get('reps') ?? 1);
  // 'webgpu' is the peer; 'wasm' (ORT's CPU kernels) checks that the model itself is right.
  const ep = q.get('ep') ?? 'webgpu';
  const gpu = await requestGpu(navigator.gpu);
  if (!gpu.ok) return { adapter: '', subgroupSizes: '', ep, results: [], error: gpu.reason };
  const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const subgroupSizes = info.subgroupMinSize !== undefined ? `${info.subgroupMinSize}–${info.subgroupMaxSize}` : 'not reported';
  log(`adapter ${gpu.adapterName}, subgroup sizes ${subgroupSizes}`);
  const runner = new AttentionRunner(gpu.device, kernelsFor(gpu.device, SHADER_SOURCES));

  const ort = (await import(/* @vite-ignore */ `${ORT_DIST}ort.webgpu.min.mjs`)) as Ort;
  ort.env.wasm.wasmPaths = ORT_DIST;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  let session: OrtSession | null = null;
  let sessionError: string | null = null;
  try {
    session = await ort.InferenceSession.create(gqaModel({ heads, kvHeads: heads, headDim, seq: 'S' }), { executionProviders: [ep], graphOptimizationLevel: 'disabled' });
  } catch (error) {
    sessionError = `ONNX Runtime Web could not create the GroupQueryAttention session: ${error instanceof Error ? error.message : String(error)}`;
    log(sessionError);
  }

  const ortRun = async (inputs: AttentionInputs): Promise<Float32Array> => {
    if (!session) throw new Error(sessionError ?? 'no session');
    const { seq } = inputs;
    const feeds = {
      query: new ort.Tensor('float32', toBsnh(inputs.q, heads, seq, headDim), [1, seq, heads * headDim]),
      key: new ort.Tensor('float32', toBsnh(inputs.k, heads, seq, headDim), [1, seq, heads * headDim]),
      value: new ort.Tensor('float32', toBsnh(inputs.v, heads, seq, headDim), [1, seq, heads * headDim]),
      seqlens_k: new ort.Tensor('int32', Int32Array.from([seq - 1]), [1]),
      total_sequence_length: new ort.Tensor('int32', Int32Array.from([seq]), []),
    };
    const out = await session.run(feeds);
    const o = out.output;
    if (!o) throw new Error('GroupQueryAttention returned no "output"');
    return fromBsnh(o.data as Float32Array, heads, seq, headDim);
  };

  // Warm up both (pipeline and shader compilation are not timed).
  const warm = generateInputs(2, heads, heads, 64, headDim);
  await runner.runUnsharded(warm);
  if (session) await ortRun(warm).catch(() => undefined);

  const results: SeqResult[] = [];
  for (const seq of seqs) {
    const inputs = generateInputs(1, heads, heads, seq, headDim);
    const gflop = (2 * seq * seq * headDim * heads) / 1e9;
    const rows = referenceRows(seq, heads, headDim, 6e7);
    const cpu = causalAttention(inputs, rows);
    const shape = { heads, seq, headDim, rows };
    let oursWallMs = Infinity;
    let oursGpuMs: number | null = null;
    let ours: Float32Array = new Float32Array(0);
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const r = await runner.runUnsharded(inputs);
      const wall = performance.now() - t0;
      if (wall < oursWallMs) {
        oursWallMs = wall;
        oursGpuMs = r.gpuMs;
        ours = r.o;
      }
    }
    const oursVsCpu = compare(ours, cpu.o, shape).maxAbsError;
    let ortWallMs: number | null = null;
    let ortVsOurs: number | null = null;
    let ortVsCpu: number | null = null;
    let ortError: string | null = sessionError;
    if (session) {
      try {
        let best = Infinity;
        let out: Float32Array = new Float32Array(0);
        for (let i = 0; i < reps; i++) {
          const t0 = performance.now();
          out = await ortRun(inputs);
          best = Math.min(best, performance.now() - t0);
        }
        ortVsOurs = compare(out, ours).maxAbsError;
        ortVsCpu = compare(out, cpu.o, shape).maxAbsError;
        ortWallMs = best;
      } catch (error) {
        ortError = error instanceof Error ? error.message : String(error);
      }
    }
    const ortOk = ortVsCpu !== null && ortVsCpu < 1e-4;
    const r: SeqResult = { seq, gflop, oursWallMs, oursGpuMs, oursVsCpu, ortWallMs, ortVsOurs, ortVsCpu, ortOk, ortError };
    results.push(r);
    log(JSON.stringify(r));
  }
  await session?.release();
  gpu.device.destroy();
  return { adapter: gpu.adapterName, subgroupSizes, ep, results, error: null };
}

declare global {
  interface Window {
    __bench?: Promise<BenchResult>;
  }
}

window.__bench = run().catch((error: unknown) => ({ adapter: '', subgroupSizes: '', ep: '', results: [], error: error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error) }));
