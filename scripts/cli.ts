// `npm run cli -- <command> [flags]`: the model and the GPU check without a browser.
import { finish } from './exit.ts';
// Each command lives in src/cli/<command>.ts and exports `run(argv): Promise<number>` (the exit code).
const commands = new Map<string, () => Promise<{ run: (argv: string[]) => Promise<number> }>>([
  ['plan', () => import('../src/cli/plan.ts')],
  ['attention', () => import('../src/cli/attention.ts')],
  ['compare', () => import('../src/cli/compare.ts')],
  ['fit', () => import('../src/cli/fit.ts')],
]);

const [commandName, ...argv] = process.argv.slice(2);
const load = commandName ? commands.get(commandName) : undefined;
if (!load) {
  console.error(`usage: npm run cli -- <${[...commands.keys()].join('|')}> [flags]   (--help for a command's flags)`);
  await finish(2);
} else {
  await finish(await (await load()).run(argv));
}
