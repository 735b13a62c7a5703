// `npm run cli -- attention --strategy zigzag --ranks 4 [--seq 1000 --heads 2 --head-dim 64]
//   [--kv-heads N] [--ulysses N] [--seed N] [--q q.npy --k k.npy --v v.npy] [--out o.npy]
//   [--backend gpu|cpu] [--local-mask]
//   [--backward [--dout do.npy] [--out-dq dq.npy --out-dk dk.npy --out-dv dv.npy]]`
// --backward also runs the schedule's backward steps (dQ, dK, dV; dO from --dout or seeded) and checks
// the gradients against the unsharded GPU backward and the float64 reference.
// Runs the strategy's schedule rank by rank (GPU: Dawn in node, a real GPU when there is one, else
// SwiftShader from the Chromium install; CPU: the CPU executor) and prints the max error against
// the unsharded reference. Exit codes: 0 within tolerance (or the local-mask demo), 1 error above
// tolerance or no GPU, 2 bad arguments, bad files, or a strategy that cannot run these params.

import { readFileSync } from 'node:fs';
import { DEFAULT_PARAMS, STRATEGY_IDS, checkConsistency, issueProblem, parseField, type Params } from '../model/params.ts';
import { buildSchedule } from '../model/strategies/index.ts';
import type { AttentionInputs } from '../model/random.ts';
import { ownValue, parseFlags, quoteArg, UsageError } from './args.ts';
import { assertFinite, NpyError, readNpy, writeNpy } from './npy.ts';
import { checkDistinct, OutputError, prepareOutput, type PreparedOutput } from './output.ts';

export const USAGE = `usage: npm run cli -- attention [--strategy ${STRATEGY_IDS.join('|')}] [--ranks 4]
       [--seq 1000] [--heads 2] [--kv-heads N] [--head-dim 64] [--ulysses 2] [--seed 1]
       [--q q.npy --k k.npy --v v.npy] [--out o.npy] [--backend gpu|cpu] [--local-mask]
       [--backward [--dout do.npy] [--out-dq dq.npy] [--out-dk dk.npy] [--out-dv dv.npy]]
Q is [heads, seq, head-dim] float32, K and V [kv-heads, seq, head-dim]; without files the inputs are
seeded random normals. Prints the max error of the sharded run against the unsharded reference.
--backward also runs the backward pass: dO (--dout, [heads, seq, head-dim], else seeded) gives
dQ [heads, seq, head-dim] and dK, dV [kv-heads, seq, head-dim], checked to 1e-4 of the largest gradient.
Output files are written only when every check passes.`;

const VALUE_FLAGS: Readonly<Record<string, keyof Params>> = {
  strategy: 'strategy',
  ranks: 'ranks',
  seq: 'execSeq',
  heads: 'heads',
  'kv-heads': 'kvHeads',
  'head-dim': 'headDim',
  ulysses: 'ulysses',
  seed: 'seed',
};
const FILE_FLAGS = ['q', 'k', 'v', 'out', 'backend', 'dout', 'out-dq', 'out-dk', 'out-dv'] as const;
const GRAD_OUTPUTS = [
  ['out-dq', 'dq'],
  ['out-dk', 'dk'],
  ['out-dv', 'dv'],
] as const;
type FileFlag = (typeof FILE_FLAGS)[number];

interface Args {
  params: Params;
  explicit: Set<keyof Params>;
  files: Partial<Record<FileFlag, string>>;
  help: boolean;
  backward: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const params: Params = { ...DEFAULT_PARAMS, strategy: 'ring', ranks: 4, execSeq: 1000, heads: 2, kvHeads: 2, headDim: 64, model: 'custom' };
  const explicit = new Set<keyof Params>();
  const files: Partial<Record<FileFlag, string>> = {};
  const flags = parseFlags(argv, { values: [...Object.keys(VALUE_FLAGS), ...FILE_FLAGS], switches: ['local-mask', 'backward'] });
  params.localMask = flags.switches.get('local-mask') ?? false;
  const backward = flags.switches.get('backward') ?? false;
  for (const [name, value] of flags.values) {
    if ((FILE_FLAGS as readonly string[]).includes(name)) {
      files[name as FileFlag] = value;
      continue;
    }
    const key = ownValue(VALUE_FLAGS, name);
    if (!key) continue; // parseFlags accepts only the names above
    const r = parseField(key, value);
    if ('issue' in r) throw new UsageError(`--${name}: ${issueProblem(r.issue)}`);
    (params as unknown as Record<string, unknown>)[key] = r.value;
    explicit.add(key);
  }
  if (files.backend !== undefined && files.backend !== 'gpu' && files.backend !== 'cpu') throw new UsageError(`--backend must be gpu or cpu; got ${quoteArg(files.backend)}.`);
  if (!backward) {
    const stray = (['dout', 'out-dq', 'out-dk', 'out-dv'] as const).filter((f) => files[f] !== undefined);
    if (stray.length) throw new UsageError(`${stray.map((f) => `--${f}`).join(', ')} belong${stray.length === 1 ? 's' : ''} to the backward pass: add --backward.`);
  }
  return { params, explicit, files, help: flags.help, backward };
}

function load(path: string, flag: string): { shape: number[]; data: Float32Array } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new NpyError(`--${flag} ${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)}).`);
  }
  const array = readNpy(bytes, `--${flag} ${path}`);
  assertFinite(array, `--${flag} ${path}`);
  return array;
}

/** Reads --q/--k/--v, checks their shapes against each other and against explicit flags, updates params. */
function loadInputs(args: Args): AttentionInputs | undefined {
  const { q: qPath, k: kPath, v: vPath } = args.files;
  const given = [qPath, kPath, vPath].filter((p) => p !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new UsageError('give all of --q, --k and --v, or none (seeded random inputs)');
  const q = load(qPath as string, 'q');
  const k = load(kPath as string, 'k');
  const v = load(vPath as string, 'v');
  for (const [flag, a] of [['q', q], ['k', k], ['v', v]] as const) {
    if (a.shape.length !== 3) throw new NpyError(`--${flag} must have shape [heads, seq, head_dim]; got (${a.shape.join(', ')}).`);
  }
  const [heads, seq, headDim] = q.shape as [number, number, number];
  const [kvHeads, kSeq, kDim] = k.shape as [number, number, number];
  if (k.shape.join() !== v.shape.join()) throw new NpyError(`--k and --v shapes differ: (${k.shape.join(', ')}) vs (${v.shape.join(', ')}).`);
  if (kSeq !== seq || kDim !== headDim) throw new NpyError(`--k shape (${k.shape.join(', ')}) does not match --q (${q.shape.join(', ')}): seq and head_dim must agree.`);
  if (kvHeads < 1 || heads % kvHeads !== 0) throw new NpyError(`--k has ${kvHeads} K/V heads, which must divide the ${heads} query heads of --q.`);
  const p = args.params;
  const check = (key: keyof Params, flag: string, fromFile: number): void => {
    if (args.explicit.has(key) && p[key] !== fromFile) throw new NpyError(`--${flag} ${String(p[key])} contradicts the files, which have ${flag} ${fromFile}.`);
  };
  check('execSeq', 'seq', seq);
  check('heads', 'heads', heads);
  check('kvHeads', 'kv-heads', kvHeads);
  check('headDim', 'head-dim', headDim);
  for (const [key, value] of [['execSeq', seq], ['heads', heads], ['kvHeads', kvHeads], ['headDim', headDim]] as const) {
    const r = parseField(key, value);
    if ('issue' in r) throw new NpyError(`the files' ${key} ${value} is out of range: ${issueProblem(r.issue)}`);
  }
  p.execSeq = seq;
  p.heads = heads;
  p.kvHeads = kvHeads;
  p.headDim = headDim;
  return { heads, kvHeads, seq, headDim, q: q.data, k: k.data, v: v.data };
}

/** Reads --dout and checks it is [heads, seq, head-dim] of the run (after loadInputs settled the shapes). */
function loadOutputGrad(args: Args): Float32Array | undefined {
  const path = args.files.dout;
  if (path === undefined) return undefined;
  const g = load(path, 'dout');
  const p = args.params;
  const want = [p.heads, p.execSeq, p.headDim];
  if (g.shape.length !== 3 || g.shape.some((n, i) => n !== want[i])) {
    throw new NpyError(`--dout must have the shape of the attention output [heads, seq, head_dim] = (${want.join(', ')})${args.files.q ? ', like --q' : ''}; got (${g.shape.join(', ')}).`);
  }
  return g.data;
}

const fmt = (x: number): string => (x === 0 ? '0' : x.toExponential(2));

export async function run(argv: string[]): Promise<number> {
  let args: Args;
  let inputs: AttentionInputs | undefined;
  let out: PreparedOutput | undefined;
  const gradOut = new Map<'dq' | 'dk' | 'dv', PreparedOutput>();
  let outputGrad: Float32Array | undefined;
  try {
    args = parseArgs(argv);
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    if (!args.explicit.has('kvHeads') && !args.files.q) args.params.kvHeads = args.params.heads;
    // Every check before any work: the output path, the inputs, then the params they imply.
    {
      const { q, k, v, dout } = args.files;
      const given = (flag: string, path: string | undefined) => (path === undefined ? [] : [{ flag, path }]);
      const outputs = [...given('--out', args.files.out), ...GRAD_OUTPUTS.flatMap(([flag]) => given(`--${flag}`, args.files[flag]))];
      checkDistinct(outputs, [...given('--q', q), ...given('--k', k), ...given('--v', v), ...given('--dout', dout)]);
      if (args.files.out !== undefined) out = prepareOutput(args.files.out, '--out');
      for (const [flag, key] of GRAD_OUTPUTS) {
        const path = args.files[flag];
        if (path !== undefined) gradOut.set(key, prepareOutput(path, `--${flag}`));
      }
    }
    inputs = loadInputs(args);
    outputGrad = loadOutputGrad(args);
  } catch (error) {
    if (error instanceof UsageError || error instanceof NpyError || error instanceof OutputError) {
      console.error(`error: ${error.message}`);
      if (error instanceof UsageError) console.error(USAGE);
      return 2;
    }
    throw error;
  }
  const params = args.params;
  const issues = checkConsistency(params);
  if (issues.length) {
    // The CLI refuses instead of falling back, so the message never says "using …".
    console.error(`error: ${issues.map((i) => issueProblem(i)).join(' ')}`);
    return 2;
  }
  params.seq = params.execSeq;
  const schedule = buildSchedule(params);
  if (!schedule.valid) {
    console.error(`error: ${params.strategy} cannot run ${params.ranks} ranks here: ${schedule.reason}`);
    return 2;
  }
  const backend = args.files.backend ?? 'gpu';
  const source = inputs ? `inputs from ${args.files.q}, ${args.files.k}, ${args.files.v}` : `seeded random inputs (seed ${params.seed})`;
  console.log(`strategy ${params.strategy}, ${params.ranks} ranks, ${params.execSeq} tokens, ${params.heads} heads (${params.kvHeads} K/V) × ${params.headDim}, ${source}${params.localMask ? ', LOCAL MASK (bug demo)' : ''}`);

  const { BACKWARD_TOLERANCE, FP32_TOLERANCE, runVerification, runVerificationCpu } = await import('../gpu/verify.ts');
  let v: Awaited<ReturnType<typeof runVerification>>;
  if (backend === 'cpu') {
    console.log('backend: CPU executor (per-rank arrays, the no-WebGPU fallback)');
    v = runVerificationCpu(params, schedule, { ...(inputs ? { inputs } : {}), backward: args.backward, ...(outputGrad ? { outputGrad } : {}) });
    console.log(`max |sharded − float64 reference| = ${fmt(v.maxAbsError)} (max rel ${fmt(v.maxRelError)}, ${v.cpuRowsChecked} of ${v.seqLen} rows checked)`);
  } else {
    const { createNodeGpu } = await import('../gpu/node.ts');
    const { loadShaderSources } = await import('../gpu/shaders.node.ts');
    const node = await createNodeGpu();
    if (!node.init.ok) {
      console.error(`error: no WebGPU adapter (${node.init.reason} Tried ${node.vulkan.note}.) Use --backend cpu, or install chromium and libvulkan1.`);
      return 1;
    }
    const device = node.init.device;
    console.log(`adapter: ${node.init.adapterName} — via ${node.vulkan.note}`);
    try {
      v = await runVerification(device, params, schedule, loadShaderSources(), { ...(inputs ? { inputs } : {}), backward: args.backward, ...(outputGrad ? { outputGrad } : {}) });
    } catch (error) {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      device.destroy();
      return 2;
    }
    console.log(`${v.dispatches} dispatches (one per rank per compute step, plus finalise), ${v.copies} buffer copies`);
    console.log(`max |sharded − unsharded GPU reference| = ${fmt(v.maxAbsError)} (max rel ${fmt(v.maxRelError)})`);
    console.log(`max |sharded − float64 CPU reference|  = ${fmt(v.maxAbsErrorVsCpu)} (${v.cpuRowsChecked} of ${v.seqLen} rows checked)`);
    const ms = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(1)} ms`);
    console.log(`GPU time: sharded ${ms(v.gpuMs)}, unsharded ${ms(v.unshardedGpuMs)} (timestamp queries)`);
    device.destroy();
    void node.gpu;
  }
  const worst = Math.max(v.maxAbsError, v.maxAbsErrorVsCpu);
  // NaN compares false, so a non-finite error never passes.
  let withinTolerance = worst <= FP32_TOLERANCE && v.output.every(Number.isFinite);
  const b = v.backward;
  if (args.backward) {
    if (!b) {
      console.error(`error: the backward pass could not run: ${v.backwardError ?? 'unknown reason'}`);
      return 2;
    }
    const ms = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(1)} ms`);
    console.log(`backward: ${b.dispatches} dispatches (${b.reductions} of them gradient reductions), ${b.copies} buffer copies, GPU time sharded ${ms(b.gpuMs)}, unsharded ${ms(b.unshardedGpuMs)}`);
    console.log(`backward max |sharded − ${v.backend === 'gpu' ? 'unsharded GPU' : 'float64'} reference|: dQ ${fmt(b.maxAbsErrorDq)}, dK ${fmt(b.maxAbsErrorDk)}, dV ${fmt(b.maxAbsErrorDv)} (largest |gradient| dQ ${b.maxGradient.dq.toFixed(3)}, dK ${b.maxGradient.dk.toFixed(3)}, dV ${b.maxGradient.dv.toFixed(3)})`);
    console.log(`backward error relative to the largest gradient: ${fmt(b.relativeError)}; vs the float64 gradients ${fmt(b.relativeErrorVsCpu)} (${b.cpuKvHeadsChecked} of ${v.kvHeads} K/V heads checked)`);
    const finite = b.gradients.dq.every(Number.isFinite) && b.gradients.dk.every(Number.isFinite) && b.gradients.dv.every(Number.isFinite);
    withinTolerance &&= finite && Math.max(b.relativeError, b.relativeErrorVsCpu) <= BACKWARD_TOLERANCE;
  }
  const files: { prepared: PreparedOutput; bytes: Uint8Array; what: string }[] = [];
  if (out) files.push({ prepared: out, bytes: writeNpy(v.output, [v.heads, v.seqLen, v.headDim]), what: `O [${v.heads}, ${v.seqLen}, ${v.headDim}] float32` });
  if (b) {
    for (const [key, prepared] of gradOut) {
      const heads = key === 'dq' ? v.heads : v.kvHeads;
      files.push({ prepared, bytes: writeNpy(b.gradients[key], [heads, v.seqLen, v.headDim]), what: `${key === 'dq' ? 'dQ' : key === 'dk' ? 'dK' : 'dV'} [${heads}, ${v.seqLen}, ${v.headDim}] float32` });
    }
  }
  if (!withinTolerance) {
    for (const f of files) console.log(`not writing ${f.prepared.flag} ${f.prepared.path}: the output failed the check against the reference.`);
  } else {
    for (const f of files) {
      try {
        f.prepared.commit(f.bytes);
      } catch (error) {
        if (!(error instanceof OutputError)) throw error;
        console.error(`error: ${error.message}`);
        return 2;
      }
      console.log(`wrote ${f.prepared.path}: ${f.what}`);
    }
  }
  if (params.localMask) {
    console.log(`local mask: max error ${fmt(worst)} — ${worst > 0.1 ? 'the large error a real masking bug causes' : 'no error: this strategy attends in global order, so local = global positions'}`);
    if (b) console.log(`local mask: gradients off by ${fmt(b.relativeError)} of the largest gradient — ${b.relativeError > BACKWARD_TOLERANCE ? 'the bug corrupts the backward pass too' : 'none: local = global positions here'}`);
    return 0;
  }
  const ok = withinTolerance;
  const tol = args.backward ? ` (forward ${FP32_TOLERANCE}; gradients ${BACKWARD_TOLERANCE} of the largest magnitude)` : ` ${FP32_TOLERANCE}`;
  console.log(ok ? `OK: within the fp32 tolerance${tol}` : `FAIL: error above the fp32 tolerance${tol}`);
  return ok ? 0 : 1;
}
