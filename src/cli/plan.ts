// `npm run cli -- plan --strategy ring --seq 128k --ranks 8 [flags] [--json]`
// Prints the priced schedule: --json gives planToJson (the contract in issue 2), otherwise an
// aligned table. Exit codes: 0 for an answer (also when the strategy cannot run these params:
// that is a valid:false answer with its reason), 2 for bad arguments.

import { applyModelPreset, checkConsistency, DEFAULT_PARAMS, IMPL_IDS, issueProblem, MODEL_PRESETS, parseField, STRATEGY_IDS, type ParamIssue, type Params } from '../model/params.ts';
import { DEFAULT_IMPL, IMPL_NAMES } from '../model/strategies/impl.ts';
import { ownValue, parseFlags, UsageError } from './args.ts';
import { MEMORY_CATEGORIES, plan, planToJson, type Plan } from '../model/plan.ts';
import { COLLECTIVE_KINDS } from '../model/comm.ts';
import { readFileSync } from 'node:fs';
import { applyHfShape, parseHfConfig } from '../model/hfConfig.ts';
import { formatBandwidth, formatBytes, formatFlops, formatGB, formatMB, formatRatio, formatSeconds, formatTokens } from '../model/format.ts';

export { UsageError };

/** Command-line flag → Params field (looked up with own properties only). */
const FLAGS: Readonly<Record<string, keyof Params>> = {
  strategy: 'strategy',
  seq: 'seq',
  ranks: 'ranks',
  ulysses: 'ulysses',
  tp: 'tp',
  model: 'model',
  layers: 'layers',
  hidden: 'hidden',
  heads: 'heads',
  'kv-heads': 'kvHeads',
  'head-dim': 'headDim',
  vocab: 'vocab',
  'ffn-hidden': 'ffnHidden',
  'micro-batch': 'microBatch',
  dtype: 'dtype',
  flash: 'flash',
  recompute: 'recompute',
  zero: 'zero',
  dp: 'dp',
  impl: 'impl',
  gpu: 'gpu',
  'attn-eff': 'attnEff',
  'gemm-eff': 'gemmEff',
};

const BOOL_FLAGS: ReadonlySet<string> = new Set(['flash']);

export const USAGE = `usage: npm run cli -- plan [--strategy ${STRATEGY_IDS.join('|')}] [--seq 128k] [--ranks 8]
       [--model ${MODEL_PRESETS.map((m) => m.id).join('|')}|custom] [--layers N] [--hidden N] [--heads N]
       [--kv-heads N] [--head-dim N] [--vocab N] [--ffn-hidden N] [--micro-batch N]
       [--dtype fp32|bf16|fp16] [--tp N] [--ulysses N] [--flash[=0|1] | --no-flash]
       [--recompute none|selective|full] [--zero 0|1|2|3] [--dp N] [--impl ${IMPL_IDS.join('|')}]
       [--gpu a100|h100|h200|b200] [--attn-eff PCT] [--gemm-eff PCT] [--config path/to/config.json] [--json]
Defaults: ring, 128K tokens, 8 ranks, Llama 3 8B, bf16, flash, full recompute, ZeRO-1, H100,
attention kernels at 50% and GEMMs at 80% of peak FLOP/s.
--impl picks whose code the schedule follows (backward ring, dK/dV dtype, K/V working set, grad dtype);
auto (the default) means, per strategy: ${Object.entries(DEFAULT_IMPL).map(([s, i]) => `${s} ${i}`).join(', ')}.
Flags: --name value or --name=value.
Memory and communication are bytes per rank (--json) or GB / MB (table); communication is bytes SENT
per layer, and per iteration (attention × layers, tensor-parallel, gradient reduction over DP×CP).
--config reads a Hugging Face config.json for the model shape (explicit shape flags override it).`;

/** Reads a Hugging Face config.json into params' model shape, or throws UsageError naming the problem. */
export function applyConfigFile(params: Params, path: string): Params {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--config: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const r = parseHfConfig(text);
  if (!r.ok) throw new UsageError(`--config ${path}: ${r.errors.join(' ')}`);
  for (const note of r.notes) process.stderr.write(`--config ${path}: ${note}\n`);
  return applyHfShape(params, r.shape);
}

/**
 * Parses argv into Params with the same field validation as the URL (parseField). Throws UsageError.
 * `extraSwitches`: switches a command adds (compare's --csv, --md); they come back in `switches`.
 * `given`: the Params fields set on the command line (fit decides what to search from them).
 */
export function parseArgs(
  argv: readonly string[],
  extraSwitches: readonly string[] = [],
): { params: Params; json: boolean; help: boolean; switches: ReadonlyMap<string, boolean>; given: Set<keyof Params> } {
  const flags = parseFlags(argv, { values: [...Object.keys(FLAGS).filter((f) => !BOOL_FLAGS.has(f)), 'config'], switches: [...BOOL_FLAGS, 'json', ...extraSwitches] });
  const config = flags.values.get('config');
  const raw = new Map<keyof Params, string>();
  for (const [name, value] of flags.values) {
    const key = ownValue(FLAGS, name);
    if (key) raw.set(key, value);
  }
  for (const [name, on] of flags.switches) {
    const key = ownValue(FLAGS, name);
    if (key) raw.set(key, on ? '1' : '0');
  }

  let params: Params = { ...DEFAULT_PARAMS };
  const fail = (flag: string, issue: ParamIssue): never => {
    // The page falls back to a default; the CLI refuses, so it never says "using …".
    throw new UsageError(`--${flag}: ${issueProblem(issue)}`);
  };
  const flagOf = (key: keyof Params): string => Object.keys(FLAGS).find((f) => FLAGS[f] === key) ?? key;
  // A preset first, so that explicit shape flags override it (as the URL does).
  const model = raw.get('model');
  if (model !== undefined) {
    const r = parseField('model', model);
    if ('issue' in r) fail('model', r.issue);
    else params = applyModelPreset(params, r.value);
  }
  if (config !== undefined) params = applyConfigFile(params, config);
  for (const [key, value] of raw) {
    if (key === 'model') continue;
    const r = parseField(key, value);
    if ('issue' in r) fail(flagOf(key), r.issue);
    else (params as unknown as Record<string, unknown>)[key] = r.value;
  }
  const preset = MODEL_PRESETS.find((m) => m.id === params.model);
  const shapeKeys = ['layers', 'hidden', 'heads', 'kvHeads', 'headDim', 'vocab', 'ffnHidden'] as const;
  if (preset && shapeKeys.some((k) => params[k] !== preset[k])) params.model = 'custom';
  const issues = checkConsistency(params);
  const first = issues[0];
  if (first) fail(flagOf(first.field as keyof Params), first);
  return { params, json: flags.switches.get('json') ?? false, help: flags.help, switches: flags.switches, given: new Set(raw.keys()) };
}

function pad(cells: readonly string[], widths: readonly number[], alignLeft: ReadonlySet<number>): string {
  return cells.map((c, i) => (alignLeft.has(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
}

/** The decimal unit (B, kB, MB, GB, TB) a column whose largest value is `max` reads best in. */
function byteUnit(max: number): { name: string; scale: number } {
  for (const [scale, name] of [[1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']] as const) if (max >= scale * 0.999995) return { name, scale };
  return { name: 'B', scale: 1 };
}

function table(rows: readonly (readonly string[])[], alignLeft: ReadonlySet<number> = new Set()): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => pad(r, widths, alignLeft).trimEnd()).join('\n');
}

/** The readable report (what --json carries, for a terminal or a slide). */
export function formatPlan(p: Plan): string {
  const pr = p.params;
  const lines: string[] = [];
  const modelName = MODEL_PRESETS.find((m) => m.id === pr.model)?.name ?? 'custom model';
  lines.push(
    `Shardscope plan: ${pr.strategy} · ${formatTokens(pr.seq)} tokens (modelled) · ${pr.ranks} ranks${pr.strategy === 'usp' ? ` (Ulysses ${pr.ulysses})` : ''} · ${modelName}`,
  );
  lines.push(
    `  ${pr.layers} layers, hidden ${pr.hidden}, ${pr.heads} heads / ${pr.kvHeads} K/V heads × ${pr.headDim}, vocab ${pr.vocab}, micro-batch ${pr.microBatch}, ${pr.dtype}, flash ${pr.flash ? 'on' : 'off'}, recompute ${pr.recompute}`,
  );
  lines.push(`  implementation: ${IMPL_NAMES[p.impl]}${pr.impl === 'auto' ? ' (auto: the default for this strategy)' : ''}`);
  lines.push(
    `  ${(p.parameters / 1e9).toFixed(2)}B parameters · TP ${p.tp} · ZeRO ${pr.zero}${pr.zero ? ` over ${p.zeroGroup} ranks` : ''} · ${p.gpu.name}: ${formatBytes(p.gpu.memoryBytes)}, ${formatFlops(p.gpu.flops)}/s, ${formatBandwidth(p.gpu.intraNodeBandwidth)} in node, ${formatBandwidth(p.gpu.interNodeBandwidth)} across nodes`,
  );
  if (!p.valid || !p.schedule.valid) {
    lines.push('', `INVALID for these params: ${p.reason ?? 'unknown reason'}`);
    return lines.join('\n');
  }
  const steps = p.schedule.steps;
  const count = (phase: string) => steps.filter((s) => s.phase === phase).length;
  lines.push('', `Schedule: ${steps.length} steps per layer (${count('forward')} forward, ${count('loss')} loss, ${count('backward')} backward)`);
  const r0 = p.perRank[0];
  if (r0) {
    const kinds = COLLECTIVE_KINDS.filter((k) => r0.collectivesByKind[k].forward + r0.collectivesByKind[k].backward > 0).map(
      (k) => `${k} ${r0.collectivesByKind[k].forward} fwd + ${r0.collectivesByKind[k].backward} bwd`,
    );
    lines.push(`  collectives rank 0 joins per layer: ${kinds.length ? kinds.join(', ') : 'none'}`);
  }

  // Byte columns: each in the unit its largest value reads best in (named in its header), so a
  // 1K-token plan shows its activations in MB instead of a column of 0.00 GB.
  const byteColumns: { title: string; of: (r: (typeof p.perRank)[number]) => number }[] = [
    ...MEMORY_CATEGORIES.slice(0, 4).map((k) => ({ title: k === 'activations' ? 'activ' : k === 'optimizer' ? 'optim' : k, of: (r: (typeof p.perRank)[number]) => r.memory[k] })),
    { title: 'act/layer', of: (r) => r.memory.activationsPerLayer },
    { title: 'kv', of: (r) => r.memory.kvWorkingSet },
    { title: 'scores', of: (r) => r.memory.scores },
    { title: 'logits', of: (r) => r.memory.logits },
    { title: 'peak', of: (r) => r.memory.peak },
  ];
  const commColumns: typeof byteColumns = [
    { title: 'comm fwd', of: (r) => r.commBytesPerLayer.forward },
    { title: 'comm bwd', of: (r) => r.commBytesPerLayer.backward },
  ];
  const units = [...byteColumns, ...commColumns].map((c) => byteUnit(Math.max(0, ...p.perRank.map(c.of))));
  const header = ['rank', 'node', 'tokens', ...byteColumns.map((c, i) => `${c.title} ${units[i]?.name}`), 'OOM', ...commColumns.map((c, i) => `${c.title} ${units[byteColumns.length + i]?.name}`), 'attn FLOP/layer'];
  const cell = (bytes: number, i: number): string => (bytes / (units[i]?.scale ?? 1)).toFixed(2);
  const rows: string[][] = [header];
  for (const r of p.perRank) {
    rows.push([
      String(r.rank),
      String(r.node),
      formatTokens(r.tokens),
      ...byteColumns.map((c, i) => cell(c.of(r), i)),
      r.oom ? 'OOM' : '',
      ...commColumns.map((c, i) => cell(c.of(r), byteColumns.length + i)),
      formatFlops(r.causalFlops),
    ]);
  }
  lines.push('', 'Memory per rank (categories are each one’s max over the steps, peak is the max of their sum; comm is bytes sent per layer):');
  lines.push(table(rows, new Set([3 + byteColumns.length])));
  let worst = p.perRank[0];
  for (const r of p.perRank) if (worst && r.memory.peak > worst.memory.peak) worst = r;
  if (worst) lines.push(`  highest peak: rank ${worst.rank}, ${formatBytes(worst.memory.peak)} of ${formatBytes(p.gpu.memoryBytes)}${p.oom ? ' — OUT OF MEMORY' : ''}`);
  lines.push(`  without sequence parallelism (1 GPU, TP ${p.baseline.tp}): peak ${formatBytes(p.baseline.memory.peak)} (activations ${formatBytes(p.baseline.memory.activations)}, logits ${formatBytes(p.baseline.memory.logits)})`);

  if (r0) {
    const c = r0.commBytesPerIteration;
    lines.push(
      `Communication per iteration, rank 0: attention ${formatGB(c.attention)} GB, tensor-parallel ${formatGB(c.tensorParallel)} GB, gradients over DP×CP ${formatGB(c.gradients)} GB (${r0.memory.gradsDtypeBytes}-byte grads), total ${formatGB(c.total)} GB`,
    );
  }

  const b = p.balance;
  const maxRank = b.perRankFlops.indexOf(Math.max(...b.perRankFlops));
  const minRank = b.perRankFlops.indexOf(Math.min(...b.perRankFlops));
  lines.push('', `Balance (forward attention FLOPs per rank): max/mean ${formatRatio(b.maxOverMean)}; busiest rank ${maxRank} ${formatFlops(b.perRankFlops[maxRank] ?? 0)}, idlest rank ${minRank} ${formatFlops(b.perRankFlops[minRank] ?? 0)}`);
  lines.push(`  ideal ${(b.ideal * 100).toFixed(1)}% (mean/max)${b.measured !== undefined ? `; measured ${(b.measured * 100).toFixed(1)}% — ${b.measuredSource ?? ''}` : ''}`);

  const t = p.timeline;
  lines.push(
    '',
    `Timeline per layer (attention at ${pr.attnEff}%, GEMMs at ${pr.gemmEff}% of peak FLOP/s; α-β links, NCCL rings): forward ${formatSeconds(t.forward)}, backward ${formatSeconds(t.backward)}, exposed communication ${formatSeconds(t.exposedPerLayer)}; loss ${formatSeconds(t.loss)}`,
    `  forward = attention ${formatSeconds(t.attentionForward)} + GEMMs ${formatSeconds(t.gemmForward)}; backward = attention ${formatSeconds(t.attentionBackward)} + GEMMs ${formatSeconds(t.gemmBackward)}${t.recompute > 0 ? ` + recomputed forward ${formatSeconds(t.recompute)}` : ''}`,
  );
  const o = p.overlap;
  lines.push(`Overlap: ${o.hides ? 'communication hides under compute' : 'communication is exposed'} (${formatSeconds(o.exposedSecondsPerLayer)} exposed per layer). ${o.condition}.`);
  if (t.ringOverlap.applies) lines.push(`  ring links: ${t.ringOverlap.link} (${formatBandwidth(t.ringOverlap.bandwidth)}); Liu et al.'s non-causal c ≥ F/B would say ${formatTokens(Math.ceil(t.ringOverlap.paperMinBlockTokens))}`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`plan: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const p = plan(parsed.params);
  process.stdout.write(parsed.json ? `${JSON.stringify(planToJson(p), null, 2)}\n` : `${formatPlan(p)}\n`);
  return 0;
}
