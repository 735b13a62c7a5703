// Compare & plan (issue 11): the page's comparison equals `compare --json` for three parameter
// sets, a row click switches strategy, the table copies as Markdown, a pasted config.json fills
// the model (and a malformed one changes nothing), and the section reads at four sizes.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { expect, test, type Page } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, state, watchConsole } from './fixtures.ts';
import { CHROMIUM_PATH, NO_WEBGPU_ARGS } from '../scripts/chromium.ts';

const run = promisify(execFile);

// Nothing here needs WebGPU (the comparison is the cost model); without it the page verifies on
// the CPU and the scene draws with WebGL2, which keeps SwiftShader's GPU work out of these tests.
test.use({ launchOptions: { executablePath: CHROMIUM_PATH, args: NO_WEBGPU_ARGS } });
const APP = process.env.SHARDSCOPE_APP ?? './';

interface Shardscope {
  params: Record<string, unknown>;
  comparison: Record<string, unknown>[] | null;
}

/** The URL key and the CLI flag of each field the sets use. */
const FLAG: Record<string, string> = { strategy: 'strategy', seq: 'seq', ranks: 'ranks', model: 'model', zero: 'zero', dp: 'dp', gpu: 'gpu', layers: 'layers', hidden: 'hidden', heads: 'heads', kvHeads: 'kv-heads', headDim: 'head-dim', vocab: 'vocab', ffnHidden: 'ffn-hidden', flash: 'flash', recompute: 'recompute', ulysses: 'ulysses', dtype: 'dtype' };

const SETS: Record<string, string>[] = [
  { strategy: 'zigzag', seq: '64K', ranks: '4' },
  { strategy: 'usp', seq: '256K', ranks: '16', ulysses: '4', model: 'llama3-70b', zero: '3', dp: '2', gpu: 'h200' },
  { strategy: 'ring', seq: '32K', ranks: '6', model: 'custom', layers: '28', hidden: '3584', heads: '28', kvHeads: '4', headDim: '128', vocab: '152064', ffnHidden: '18944', flash: '0', recompute: 'none', dtype: 'fp16' },
];

const comparison = async (page: Page): Promise<Record<string, unknown>[]> => {
  // Read in the same evaluation that sees it ready: a late param normalisation can reset it to null again.
  const ready = await page.waitForFunction(() => {
    const c = (window.shardscope as { comparison?: unknown }).comparison;
    return c != null ? JSON.stringify(c) : null;
  }, undefined, { timeout: 60_000 });
  return JSON.parse((await ready.jsonValue()) as string) as Record<string, unknown>[];
};

test('the page\'s comparison equals `compare --json` for three parameter sets', async ({ page }) => {
  test.setTimeout(240_000);
  const log = watchConsole(page);
  for (const set of SETS) {
    const hash = Object.entries(set).map(([k, v]) => `${k}=${v}`).join('&');
    const flags = Object.entries(set).flatMap(([k, v]) => [`--${FLAG[k]}`, v]);
    const { stdout } = await run('npx', ['tsx', 'scripts/cli.ts', 'compare', ...flags, '--json'], { cwd: process.cwd() });
    const cli = JSON.parse(stdout) as { params: Record<string, unknown>; rows: Record<string, unknown>[] };
    // The second and third sets change only the hash, a same-document navigation: the previous
    // set's comparison stays exposed until the page applies the new hash, so poll until it agrees.
    await openApp(page, `${APP}#${hash}&execSeq=64`);
    await expect.poll(async () => comparison(page), { timeout: 60_000 }).toEqual(cli.rows);
    const rows = await comparison(page);
    const page_ = await state<Shardscope>(page);
    // Same params on both sides (except what only the page has).
    for (const [k, v] of Object.entries(cli.params)) if (!['execSeq', 'seed', 'localMask'].includes(k)) expect(page_.params[k], k).toEqual(v);
    expect(rows).toHaveLength(7);
    expect(rows.filter((r) => r.valid).every((r) => typeof r.maxSeqThatFits === 'number')).toBe(true);
    // The table shows the same rows.
    await expect(page.locator('#cmp-table tbody tr')).toHaveCount(7);
  }
  expectNoConsoleErrors(log);
});

test('best values are starred, a row click switches strategy, Markdown copies', async ({ page }) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=ring&seq=128K&ranks=8&execSeq=64`);
  await comparison(page);
  const agKv = page.locator('#cmp-table tr[data-strategy="allgather"] td[data-col="kv"]');
  await expect(agKv).not.toHaveClass(/cmp-best/);
  await expect(page.locator('#cmp-table tr[data-strategy="allgather"] td[data-col="steps"]')).toHaveClass(/cmp-best/);
  await expect(page.locator('#cmp-table tr[data-strategy="allgather"] td[data-col="peak"] .cmp-distinct')).toHaveText(/^[A-Za-z/]+ [+−]\d/);
  // A new comparison of the same strategies rewrites the table's text in place: its rows stay the same nodes.
  const ringRow = page.locator('#cmp-table tr[data-strategy="ring"]');
  await ringRow.evaluate((tr) => ((tr as unknown as { kept: boolean }).kept = true));
  const ringPeak = await ringRow.locator('td[data-col="peak"]').textContent();
  await page.locator('#cmp-table tr[data-strategy="ulysses"] td[data-col="balance"]').click();
  await expect.poll(async () => (await state<Shardscope>(page)).params.strategy).toBe('ulysses');
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('strategy=ulysses');
  await expect(page.locator('#cmp-table tr[data-strategy="ulysses"]')).toHaveClass(/cmp-current/);
  await expect(ringRow).not.toHaveClass(/cmp-current/);
  await expect(ringRow.locator('button')).toHaveAttribute('aria-pressed', 'false');
  await page.evaluate(() => (window as unknown as { __shardscopeTest: { setParams(c: object): void } }).__shardscopeTest.setParams({ seq: 524288 }));
  await expect(ringRow.locator('td[data-col="peak"]')).not.toHaveText(ringPeak ?? '', { timeout: 60_000 });
  expect(await ringRow.evaluate((tr) => (tr as unknown as { kept?: boolean }).kept === true)).toBe(true);
  await page.locator('#cmp-copy-md').click();
  await expect(page.locator('#ui-share-text')).toHaveValue(/\| strategy \| valid \| peak \/ rank/);
  await page.locator('#ui-share').getByRole('button', { name: 'Close' }).click();
  // The fewest ranks for 1M tokens: each answer applies.
  await page.locator('#cmp-plan-seq').fill('1M');
  await page.locator('#cmp-plan-go').click();
  const ringPlan = page.locator('#cmp-plan-list li[data-strategy="ring"]');
  await expect(ringPlan).toHaveAttribute('data-ranks', /\d+/, { timeout: 60_000 });
  const ranks = Number(await ringPlan.getAttribute('data-ranks'));
  await ringPlan.getByRole('button', { name: 'use' }).click();
  await expect.poll(async () => (await state<Shardscope>(page)).params).toMatchObject({ strategy: 'ring', ranks, seq: 1048576 });
  expectNoConsoleErrors(log);
});

test('a pasted config.json fills the model and goes into the URL; a malformed one changes nothing', async ({ page }) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=zigzag&seq=64K&ranks=4&execSeq=64`);
  await page.locator('.lil-title', { hasText: 'Model' }).click();
  const before = (await state<Shardscope>(page)).params;

  await page.locator('#ui-hf-config').fill('{"hidden_size": 4096, "num_attention_heads": 32, "vocab_size": "lots"}');
  await page.locator('#ui-hf-apply').click();
  const error = page.locator('#messages .message[data-key="hf-config"]');
  await expect(error).toContainText('missing num_hidden_layers, intermediate_size');
  await expect(error).toContainText('vocab_size');
  expect((await state<Shardscope>(page)).params).toEqual(before);

  const qwen = await readFile('src/model/fixtures/qwen2.5-7b.config.json', 'utf8');
  await page.locator('#ui-hf-config').fill(qwen);
  await page.locator('#ui-hf-apply').click();
  await expect(error).toContainText('Qwen2ForCausalLM');
  await expect(error).toContainText('7.62B parameters');
  const after = (await state<Shardscope>(page)).params;
  expect(after).toEqual({ ...before, model: 'custom', layers: 28, hidden: 3584, heads: 28, kvHeads: 4, headDim: 128, ffnHidden: 18944, vocab: 152064 });
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('hidden=3584');
  // The URL restores the custom model.
  const hash = await page.evaluate(() => location.hash);
  await openApp(page, `${APP}${hash}`);
  expect((await state<Shardscope>(page)).params).toMatchObject({ model: 'custom', hidden: 3584, vocab: 152064 });
  expectNoConsoleErrors(log);
});

for (const [w, h] of [[640, 360], [960, 540], [1280, 720], [390, 844]] as const) {
  test(`the comparison and plot read at ${w}x${h}`, async ({ page }, testInfo) => {
    const log = watchConsole(page);
    await page.setViewportSize({ width: w, height: h });
    await openApp(page, `${APP}#strategy=ring&seq=128K&ranks=8&execSeq=64`);
    await comparison(page);
    await expect(page.locator('#cmp-status')).toHaveText('', { timeout: 60_000 }); // sweep done
    const section = page.locator('#compare');
    await section.scrollIntoViewIfNeeded();
    // Nothing wider than the viewport, every cell inside its row.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const plot = page.locator('#cmp-plot');
    await expect(plot).toHaveAttribute('aria-label', /longest context that fits: .*ring \d/);
    const drawn = await plot.evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext('2d');
      if (!ctx) return 0;
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if ((d[i] ?? 0) > 0) n++;
      return n / (c.width * c.height);
    });
    expect(drawn).toBeGreaterThan(0.03);
    await testInfo.attach(`compare-${w}x${h}`, { body: await section.screenshot(), contentType: 'image/png' });
    await saveScreenshot(page, testInfo, `page-${w}x${h}`);
    expectNoConsoleErrors(log);
  });
}
