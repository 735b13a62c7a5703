// `npm run cli -- compare [plan's flags] [--json|--csv|--md]`: every strategy on the same params.
// --json gives { params, rows } (issue 11 contract, the same rows as window.shardscope.comparison),
// --csv raw numbers for a spreadsheet, --md a Markdown table for slides; otherwise aligned text.

import { compareStrategies, comparisonToCsv, comparisonToJson, comparisonToMarkdown, comparisonToText } from '../model/compare.ts';
import { parseArgs, UsageError, USAGE as PLAN_USAGE } from './plan.ts';

export const USAGE = `usage: npm run cli -- compare [plan's flags, except --strategy] [--json | --csv | --md]
Prints every strategy priced on the same params; ★ marks each column's best.
Peak, K/V working set and communication are the busiest rank's, per layer; "longest seq that fits" is
searched with the cost model at the given rank count.
Plan's flags:
${PLAN_USAGE.replace(/^usage: npm run cli -- plan /, '  ')}`;

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv, ['csv', 'md']);
    const formats = [parsed.json, parsed.switches.get('csv') === true, parsed.switches.get('md') === true].filter(Boolean).length;
    if (formats > 1) throw new UsageError('pick one of --json, --csv, --md');
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`compare: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const c = compareStrategies(parsed.params);
  const out = parsed.json
    ? JSON.stringify(comparisonToJson(c), null, 2)
    : parsed.switches.get('csv') === true
      ? comparisonToCsv(c)
      : parsed.switches.get('md') === true
        ? comparisonToMarkdown(c)
        : comparisonToText(c);
  process.stdout.write(`${out}\n`);
  return 0;
}
