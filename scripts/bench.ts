// `npm run bench [-- section…]`: prints figures; never a pass/fail timing test.
export {};
// Each section lives in scripts/bench/<name>.ts and exports `run(): Promise<void>`.
const sections: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  plan: () => import('./bench/plan.ts'),
  gpu: () => import('./bench/gpu.ts'),
  scene: () => import('./bench/scene.ts'),
  interaction: () => import('./bench/interaction.ts'),
};

const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(sections)) {
  const load = sections[name];
  if (!load) {
    console.error(`unknown bench section "${name}"; sections: ${Object.keys(sections).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n== bench: ${name} ==`);
  await (await load()).run();
}
