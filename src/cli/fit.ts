// `npm run cli -- fit --strategy S --ranks P [flags] [--json]`: the longest sequence that fits.
// `npm run cli -- fit --strategy S --seq N [flags] [--json]`: the fewest ranks that fit N tokens.
// "Fits" is plan()'s own verdict (valid schedule, no rank over the GPU's memory); see model/fit.ts.
// --json gives { strategy, ranks, seq, fits, maxSeq?, minRanks?, peakBytes, capacityBytes } (issue 11).
// Exit 0 for an answer (also "nothing fits": fits false), 2 for bad arguments.

import { fit, type FitAnswer } from '../model/fit.ts';
import { formatBytes, formatTokens } from '../model/format.ts';
import { MAX_RANKS } from '../model/params.ts';
import { parseArgs, UsageError, USAGE as PLAN_USAGE } from './plan.ts';

export const USAGE = `usage: npm run cli -- fit --strategy S (--ranks P | --seq N) [plan's flags] [--json]
  --ranks P   find the longest sequence that fits on P ranks
  --seq N     find the fewest ranks (1..${MAX_RANKS}) that fit N tokens
Plan's flags:
${PLAN_USAGE.replace(/^usage: npm run cli -- plan /, '  ')}`;

export function formatFit(a: FitAnswer): string {
  const cap = formatBytes(a.capacityBytes);
  if (a.maxSeq !== undefined) {
    if (a.maxSeq === null) return `${a.strategy} on ${a.ranks} rank${a.ranks === 1 ? '' : 's'}: cannot run (${a.reason ?? 'invalid'})`;
    if (a.maxSeq === 0) return `${a.strategy} on ${a.ranks} rank${a.ranks === 1 ? '' : 's'}: not even 1 token fits in ${cap} (peak ${formatBytes(a.peakBytes)})`;
    return `${a.strategy} on ${a.ranks} rank${a.ranks === 1 ? '' : 's'}: longest sequence that fits is ${a.maxSeq} tokens (${formatTokens(a.maxSeq)}${a.unbounded ? ', search limit' : ''}), peak ${formatBytes(a.peakBytes)} of ${cap}`;
  }
  if (a.minRanks === null || a.minRanks === undefined) return `${a.strategy} at ${formatTokens(a.seq)} tokens: ${a.reason ?? 'does not fit'}`;
  return `${a.strategy} at ${formatTokens(a.seq)} tokens: fewest ranks that fit is ${a.minRanks}, peak ${formatBytes(a.peakBytes)} of ${cap}`;
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  let mode: 'maxSeq' | 'minRanks';
  try {
    parsed = parseArgs(argv);
    if (!parsed.help) {
      const ranks = parsed.given.has('ranks');
      const seq = parsed.given.has('seq');
      if (ranks === seq) throw new UsageError(ranks ? 'give --ranks (to find the longest seq) or --seq (to find the fewest ranks), not both' : 'give --ranks P (to find the longest seq) or --seq N (to find the fewest ranks)');
      if (!parsed.given.has('strategy')) throw new UsageError('--strategy is required');
      mode = ranks ? 'maxSeq' : 'minRanks';
    } else mode = 'maxSeq';
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fit: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const a = fit(parsed.params, mode);
  process.stdout.write(parsed.json ? `${JSON.stringify(a, null, 2)}\n` : `${formatFit(a)}\n`);
  return 0;
}
