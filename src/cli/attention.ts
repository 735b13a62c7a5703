// `npm run cli -- attention --strategy zigzag --ranks 4 [--seq 1000 --heads 2 --head-dim 64]
//   [--kv-heads N] [--ulysses N] [--seed N] [--q q.npy --k k.npy --v v.npy] [--out o.npy]
//   [--backend gpu|cpu] [--local-mask]`
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
Q is [heads, seq, head-dim] float32, K and V [kv-heads, seq, head-dim]; without files the inputs are
seeded random normals. Prints the max error of the sharded run against the unsharded reference.`;

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
const FILE_FLAGS = ['q', 'k', 'v', 'out', 'backend'] as const;
type FileFlag = (typeof FILE_FLAGS)[number];

interface Args {
  params: Params;
  explicit: Set<keyof Params>;
  files: Partial<Record<FileFlag, string>>;
  help: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const params: Params = { ...DEFAULT_PARAMS, strategy: 'ring', ranks: 4, execSeq: 1000, heads: 2, kvHeads: 2, headDim: 64, model: 'custom' };
  const explicit = new Set<keyof Params>();
  const files: Partial<Record<FileFlag, string>> = {};
  const flags = parseFlags(argv, { values: [...Object.keys(VALUE_FLAGS), ...FILE_FLAGS], switches: ['local-mask'] });
  params.localMask = flags.switches.get('local-mask') ?? false;
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
  return { params, explicit, files, help: flags.help };
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

const fmt = (x: number): string => (x === 0 ? '0' : x.toExponential(2));

export async function run(argv: string[]): Promise<number> {
  let args: Args;
  let inputs: AttentionInputs | undefined;
  let out: PreparedOutput | undefined;
  try {
    args = parseArgs(argv);
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    if (!args.explicit.has('kvHeads') && !args.files.q) args.params.kvHeads = args.params.heads;
    // Every check before any work: the output path, the inputs, then the params they imply.
    if (args.files.out !== undefined) {
      const { q, k, v } = args.files;
      const given = (flag: string, path: string | undefined) => (path === undefined ? [] : [{ flag, path }]);
      checkDistinct([{ flag: '--out', path: args.files.out }], [...given('--q', q), ...given('--k', k), ...given('--v', v)]);
      out = prepareOutput(args.files.out, '--out');
    }
    inputs = loadInputs(args);
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

  const { FP32_TOLERANCE, runVerification, runVerificationCpu } = await import('../gpu/verify.ts');
  let v: Awaited<ReturnType<typeof runVerification>>;
  if (backend === 'cpu') {
    console.log('backend: CPU executor (per-rank arrays, the no-WebGPU fallback)');
    v = runVerificationCpu(params, schedule, inputs ? { inputs } : {});
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
      v = await runVerification(device, params, schedule, loadShaderSources(), inputs ? { inputs } : {});
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
  const withinTolerance = worst <= FP32_TOLERANCE && v.output.every(Number.isFinite);
  if (out) {
    if (!withinTolerance) console.log(`not writing ${out.flag} ${out.path}: the output failed the check against the reference.`);
    else {
      try {
        out.commit(writeNpy(v.output, [v.heads, v.seqLen, v.headDim]));
      } catch (error) {
        if (!(error instanceof OutputError)) throw error;
        console.error(`error: ${error.message}`);
        return 2;
      }
      console.log(`wrote ${out.path}: O [${v.heads}, ${v.seqLen}, ${v.headDim}] float32`);
    }
  }
  if (params.localMask) {
    console.log(`local mask: max error ${fmt(worst)} — ${worst > 0.1 ? 'the large error a real masking bug causes' : 'no error: this strategy attends in global order, so local = global positions'}`);
    return 0;
  }
  const ok = withinTolerance;
  console.log(ok ? `OK: within the fp32 tolerance ${FP32_TOLERANCE}` : `FAIL: error above the fp32 tolerance ${FP32_TOLERANCE}`);
  return ok ? 0 : 1;
}
