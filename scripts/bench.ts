// `npm run bench [-- section…]`: prints figures; never a pass/fail timing test.
import { finish } from './exit.ts';
// Each section lives in scripts/bench/<name>.ts and exports `run(): Promise<void>`.
const sections = new Map<string, () => Promise<{ run: () => Promise<void> }>>([
  ['plan', () => import('./bench/plan.ts')],
  ['gpu', () => import('./bench/gpu.ts')],
  ['scene', () => import('./bench/scene.ts')],
  ['interaction', () => import('./bench/interaction.ts')],
]);

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !sections.has(name));
if (unknown.length) {
  console.error(`unknown bench section${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; sections: ${[...sections.keys()].join(', ')}`);
  await finish(2);
}
for (const name of wanted.length ? wanted : [...sections.keys()]) {
  const load = sections.get(name);
  if (!load) continue;
  console.log(`\n== bench: ${name} ==`);
  await (await load()).run();
}
await finish(0);
