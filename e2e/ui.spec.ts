// The controls and readouts (issue 5): sliders move memory per rank the way the formulas say,
// the page prints the CLI's numbers, the URL carries the whole state, bad URL values recover,
// an invalid combination explains itself, and the PNG export is a real 2× image.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { expect, test, type Page } from '@playwright/test';
import { expectNoConsoleErrors, openApp, saveScreenshot, state, watchConsole } from './fixtures.ts';
import { formatBytes, formatFlops, formatRatio, formatSeconds } from '../src/model/format.ts';
import { formatRange, gb, mb } from '../src/ui/readoutData.ts';

const run = promisify(execFile);
/** The app's path (the page shell at the root). */
const APP = process.env.SHARDSCOPE_APP ?? './';

interface Shardscope {
  params: Record<string, unknown>;
  memoryPerRank: number[];
  commPerRank: { forward: number; backward: number }[];
  balance: { perRankFlops: number[]; maxOverMean: number };
  planValid: { valid: boolean; reason: string | null };
  view: { step: number; embed: boolean; theme: string; autoplay: boolean; loop: boolean };
  playback: { step: number; stepCount: number; playing: boolean };
  lastPng: { width: number; height: number; filename: string; sceneWidth: number; sceneHeight: number; bandHeight: number; scale: number } | null;
  errors: string[];
}

const ss = (page: Page): Promise<Shardscope> => state<Shardscope>(page);

/** The rank count's chip in the Parallelism folder. */
const rankChip = (page: Page, ranks: number) => page.locator(`.ui-chip[data-ranks="${ranks}"]`);

test('sequence-length and rank controls move memory per rank the way the formulas say', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=zigzag&seq=32K&ranks=8`);
  await expect(page.locator('#ro-mem-peak')).not.toHaveText('');
  const at32k = (await ss(page)).memoryPerRank;
  expect(at32k).toHaveLength(8);

  // More tokens → more memory on every rank. The slider moves on a log scale of nice stops.
  const slider = page.locator('#ui-seq-range');
  await slider.focus();
  for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
  await expect(page.locator('#ui-seq-text')).toHaveValue('128K');
  await expect.poll(async () => (await ss(page)).params.seq).toBe(131072);
  const at128k = (await ss(page)).memoryPerRank;
  at128k.forEach((m, r) => expect(m, `rank ${r}`).toBeGreaterThan(at32k[r] ?? Infinity));

  // Typed value with a suffix.
  await page.locator('#ui-seq-text').fill('1M');
  await page.locator('#ui-seq-text').press('Enter');
  await expect.poll(async () => (await ss(page)).params.seq).toBe(1048576);
  await expect(slider).toHaveAttribute('aria-valuetext', '1M tokens');
  const at1m = (await ss(page)).memoryPerRank;
  expect(Math.min(...at1m)).toBeGreaterThan(Math.max(...at128k));

  // More ranks → less memory per rank (activations and K/V are per local token).
  await rankChip(page, 16).click();
  await expect.poll(async () => (await ss(page)).memoryPerRank.length).toBe(16);
  const ranks16 = (await ss(page)).memoryPerRank;
  expect(Math.max(...ranks16)).toBeLessThan(Math.min(...at1m));

  // The lil-gui ranks slider's number box takes any integer in 1..64.
  const ranksInput = page.locator('[data-param="ranks"] input');
  await ranksInput.fill('32');
  await ranksInput.press('Enter');
  await expect.poll(async () => (await ss(page)).memoryPerRank.length).toBe(32);
  const ranks32 = (await ss(page)).memoryPerRank;
  expect(Math.max(...ranks32)).toBeLessThan(Math.min(...ranks16));
  await expect(rankChip(page, 32)).toHaveAttribute('aria-pressed', 'true');

  await saveScreenshot(page, testInfo, 'controls-32-ranks-1M');
  expectNoConsoleErrors(log);
});

// Three parameter sets, as URL hashes; the CLI gets the same values as flags.
const SETS = [
  'strategy=ring&seq=128K&ranks=8',
  'strategy=ulysses&seq=256K&ranks=8&model=llama3-70b&zero=3&dp=4&recompute=full',
  'strategy=usp&seq=1M&ranks=16&ulysses=4&flash=0&gpu=b200&dtype=fp16',
];

const FLAG: Record<string, string> = { kvHeads: 'kv-heads', headDim: 'head-dim', microBatch: 'micro-batch', ffnHidden: 'ffn-hidden' };

async function cli(hash: string, json: boolean): Promise<string> {
  const args = ['tsx', 'scripts/cli.ts', 'plan'];
  for (const [key, value] of new URLSearchParams(hash)) args.push(`--${FLAG[key] ?? key}=${value}`);
  if (json) args.push('--json');
  const { stdout } = await run('npx', args, { cwd: process.cwd(), maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

interface CliPlan {
  valid: boolean;
  perRank: { memory: Record<string, number>; commBytesPerLayer: { forward: number; backward: number }; causalFlops: number }[];
  balance: { perRankFlops: number[]; maxOverMean: number };
  timeline: { forwardSeconds: number; backwardSeconds: number; exposedSecondsPerLayer: number };
}

for (const [i, hash] of SETS.entries()) {
  test(`the page's numbers equal the CLI's (set ${i + 1}: ${hash})`, async ({ page }, testInfo) => {
    const log = watchConsole(page);
    const [json, table] = await Promise.all([cli(hash, true), cli(hash, false)]);
    const expected = JSON.parse(json) as CliPlan;
    expect(expected.valid).toBe(true);
    // The executed (verification) size is page-only; keep it small so SwiftShader's GPU run stays short.
    await openApp(page, `${APP}#${hash}&execSeq=64`);
    await expect(page.locator('#ro-mem-peak')).not.toHaveText('');
    const s = await ss(page);

    // Raw numbers, exactly.
    expect(s.memoryPerRank).toEqual(expected.perRank.map((r) => r.memory.peak));
    expect(s.commPerRank).toEqual(expected.perRank.map((r) => r.commBytesPerLayer));
    expect(s.balance.perRankFlops).toEqual(expected.perRank.map((r) => r.causalFlops));
    expect(s.balance.maxOverMean).toBe(expected.balance.maxOverMean);

    // The printed strings: the same format.ts functions in the same units as the CLI.
    const peaks = expected.perRank.map((r) => r.memory.peak ?? NaN);
    await expect(page.locator('#ro-mem-peak')).toHaveText(formatRange(peaks, formatBytes));
    for (const category of ['weights', 'grads', 'optimizer', 'activations', 'kvWorkingSet', 'scores', 'logits']) {
      const values = expected.perRank.map((r) => r.memory[category] ?? NaN);
      await expect(page.locator(`#ro-mem-legend li[data-category="${category}"] .ro-legend-value`)).toHaveText(formatRange(values, gb));
    }
    // The CLI's table names each byte column's unit in its header ("weights GB", "comm fwd MB").
    const inColumn = (title: string, bytes: number): string => {
      const unit = new RegExp(`${title} (B|kB|MB|GB|TB)\\b`).exec(table)?.[1] ?? '?';
      return (bytes / { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[unit as 'B']).toFixed(2);
    };
    for (const value of expected.perRank.map((r) => r.memory.weights ?? NaN)) expect(table).toContain(inColumn('weights', value));
    await expect(page.locator('#ro-comm-fwd')).toHaveText(formatRange(expected.perRank.map((r) => r.commBytesPerLayer.forward), mb));
    await expect(page.locator('#ro-comm-bwd')).toHaveText(formatRange(expected.perRank.map((r) => r.commBytesPerLayer.backward), mb));
    for (const r of expected.perRank) expect(table).toContain(inColumn('comm fwd', r.commBytesPerLayer.forward));

    // Ratio, seconds and FLOPs, as the CLI's text prints them.
    const ratio = /max\/mean (\S+×)/.exec(table)?.[1];
    expect(ratio).toBe(formatRatio(expected.balance.maxOverMean));
    await expect(page.locator('#ro-bal-summary')).toContainText(`busiest ${ratio} the mean`);
    await expect(page.locator('#ro-bal-summary')).toContainText(formatRange(expected.balance.perRankFlops, formatFlops));
    const fwd = /forward (\S+ \S+), backward (\S+ \S+), exposed communication (\S+ [^\s;]+)/.exec(table);
    expect(fwd?.[1]).toBe(formatSeconds(expected.timeline.forwardSeconds));
    await expect(page.locator('#ro-tl-summary')).toHaveText(`Forward ${fwd?.[1]} · backward ${fwd?.[2]} · exposed communication ${fwd?.[3]} (slowest rank, per layer)`);
    const highest = /highest peak: rank \d+, (\S+ \S+)/.exec(table)?.[1];
    expect(highest).toBe(formatBytes(Math.max(...peaks)));

    await saveScreenshot(page, testInfo, `cli-set-${i + 1}`);
    expectNoConsoleErrors(log);
  });
}

test('a URL round-trip restores params and step, and the hash follows the controls', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=striped&seq=64K&ranks=4&dtype=fp16&flash=0&step=6`);
  let s = await ss(page);
  expect(s.params).toMatchObject({ strategy: 'striped', seq: 65536, ranks: 4, dtype: 'fp16', flash: false });
  expect(s.playback.step).toBe(5);
  expect(s.view.step).toBe(5);
  await expect(page.locator('#ro-mem-now')).toContainText('at step 6 of');

  // Controls write the hash (readable keys, replaceState).
  await rankChip(page, 8).click();
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('ranks=8');
  await page.getByRole('button', { name: 'Next step ▶' }).click();
  await expect.poll(async () => (await ss(page)).playback.step).toBe(6);
  await expect.poll(() => page.evaluate(() => location.hash)).toContain('step=7');
  s = await ss(page);
  const url = page.url();
  expect(url).toContain('#strategy=striped&seq=64K&ranks=8');

  // The same URL in a fresh document gives the same state. (The same tab, not a second one: two
  // WebGPU pages share SwiftShader's one GPU process, and the second waited behind the first's run.)
  await page.goto('about:blank');
  const other = page;
  await openApp(other, url);
  const t = await ss(other);
  expect(t.params).toEqual(s.params);
  expect(t.playback.step).toBe(s.playback.step);
  expect(t.memoryPerRank).toEqual(s.memoryPerRank);

  // Editing the hash in place (hashchange) applies it too.
  await other.evaluate(() => {
    location.hash = '#strategy=allgather&seq=32K&ranks=2&step=2';
  });
  await expect.poll(async () => (await ss(other)).params.strategy).toBe('allgather');
  expect((await ss(other)).params.ranks).toBe(2);
  // The hash's step is applied when the new schedule arrives from the planner worker (a frame or two later).
  await expect.poll(async () => (await ss(other)).playback.step).toBe(1);
  await saveScreenshot(other, testInfo, 'url-round-trip');
  expectNoConsoleErrors(log);
});

test('bad URL values show a dismissable message naming the field and range, then recover', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=warp&seq=-5&ranks=abc&theme=pink&step=99999&dtype=<img%20src=x%20onerror=window.__pwned=1>`);
  for (const field of ['strategy', 'seq', 'ranks', 'theme', 'dtype']) await expect(page.locator(`.message[data-key="param-${field}"]`)).toBeVisible();
  await expect(page.locator('.message[data-key="param-seq"]')).toContainText('sequence length (modelled) (seq) must be an integer from 1 to');
  await expect(page.locator('.message[data-key="param-ranks"]')).toContainText('from 1 to 64');
  await expect(page.locator('.message[data-key="param-step"]')).toContainText('step must be from 1 to');
  // URL text is shown as text, never parsed as HTML.
  await expect(page.locator('.message[data-key="param-dtype"]')).toContainText('<img');
  expect(await page.locator('#messages img').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

  const s = await ss(page);
  expect(s.params).toMatchObject({ strategy: 'ring', seq: 131072, ranks: 8, dtype: 'bf16' });
  expect(s.view.theme).toBe('dark');
  expect(s.memoryPerRank).toHaveLength(8);
  expect(s.playback.step).toBe(s.playback.stepCount - 1);
  await saveScreenshot(page, testInfo, 'bad-url-messages');

  await page.locator('.message[data-key="param-seq"] .message-close').click();
  await expect(page.locator('.message[data-key="param-seq"]')).toHaveCount(0);

  // A bad value arriving by hashchange is reported as well, and the state stays sane.
  await page.evaluate(() => {
    location.hash = '#ranks=999';
  });
  await expect(page.locator('.message[data-key="param-ranks"]')).toContainText('got "999"');
  expect((await ss(page)).params.ranks).toBe(8);
  expect((await ss(page)).errors).toEqual([]);
  expectNoConsoleErrors(log);
});

test('an invalid strategy / rank combination shows the reason beside the control and keeps the choice', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=ulysses&seq=128K&ranks=8`);
  await expect(page.locator('#ui-reason')).toBeHidden();
  await rankChip(page, 64).click();
  await expect(page.locator('#ui-reason')).toBeVisible();
  await expect(page.locator('#ui-reason')).toContainText(/Ulysses/);
  await expect(page.locator('#ro-invalid')).toContainText('cannot run');
  const s = await ss(page);
  expect(s.params).toMatchObject({ strategy: 'ulysses', ranks: 64 });
  expect(s.planValid.valid).toBe(false);
  expect(s.planValid.reason).toMatch(/Ulysses/);
  await expect(page.locator('[data-param="strategy"] select')).toHaveAttribute('aria-invalid', 'true');
  await saveScreenshot(page, testInfo, 'invalid-ulysses-64');
  // Back to a valid choice: the reason goes away.
  await rankChip(page, 4).click();
  await expect(page.locator('#ui-reason')).toBeHidden();
  expectNoConsoleErrors(log);
});

test('Save PNG exports the frame at 2× the canvas size with a readout band, not blank', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=zigzag&seq=256K&ranks=8&zero=3&dp=8`);
  const box = await page.locator('#scene-canvas').evaluate((c) => ({ w: Math.round(c.clientWidth), h: Math.round(c.clientHeight) }));
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save PNG (2×)' }).click()]);
  expect(download.suggestedFilename()).toBe('shardscope-zigzag-256K-8ranks-step1.png');
  const path = testInfo.outputPath('export.png');
  await download.saveAs(path);
  const png = await readFile(path);
  await testInfo.attach('exported-png', { body: png, contentType: 'image/png' });
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  // 2× the scene canvas, plus (at 2×) the readout band under the frame.
  const layout = (await ss(page)).lastPng;
  expect(layout).toMatchObject({ width, height, sceneWidth: box.w, sceneHeight: box.h, scale: 2 });
  expect({ width, height }).toEqual({ width: 2 * box.w, height: 2 * (box.h + (layout?.bandHeight ?? NaN)) });
  expect(layout?.bandHeight).toBeGreaterThan(100);

  // Not blank: many distinct colours across the image.
  const distinct = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    if (!ctx) return 0;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set<number>();
    for (let i = 0; i < data.length; i += 4 * 97) colours.add(((data[i] ?? 0) >> 4) * 256 + ((data[i + 1] ?? 0) >> 4) * 16 + ((data[i + 2] ?? 0) >> 4));
    return colours.size;
  }, png.toString('base64'));
  expect(distinct).toBeGreaterThan(12);
  expect(layout?.filename).toBe(download.suggestedFilename());
  expectNoConsoleErrors(log);
});

test('Copy embed code shows an iframe snippet of the current state', async ({ page }, testInfo) => {
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=ring&seq=64K&ranks=4`);
  await page.getByRole('button', { name: 'Copy embed code' }).click();
  const dialog = page.locator('#ui-share');
  await expect(dialog).toBeVisible();
  const code = await page.locator('#ui-share-text').inputValue();
  expect(code).toMatch(/^<iframe src="http:\/\/127\.0\.0\.1:\d+\/[\w/.-]*\?embed=1#strategy=ring&amp;seq=64K&amp;ranks=4"/);
  await saveScreenshot(page, testInfo, 'embed-code-dialog');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();
  expectNoConsoleErrors(log);
});

test('first-time hint appears once and stays dismissed', async ({ page }) => {
  await openApp(page, APP);
  const hint = page.locator('.message[data-key="hint"]');
  await expect(hint).toBeVisible();
  await hint.getByRole('button', { name: 'Got it' }).click();
  await expect(hint).toHaveCount(0);
  await page.reload();
  await page.waitForFunction(() => (window as unknown as { shardscope?: { ready?: boolean } }).shardscope?.ready === true);
  await expect(page.locator('#ro-mem-peak')).not.toHaveText('');
  await expect(hint).toHaveCount(0);
});

test('phone width: the panel collapses and scene and readouts stack', async ({ browser }, testInfo) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await context.newPage();
  const log = watchConsole(page);
  await openApp(page, `${APP}#strategy=zigzag&seq=128K&ranks=8`);
  await expect(page.locator('#ui-gui')).toHaveClass(/lil-closed/);
  const stage = await page.locator('#stage').boundingBox();
  const readouts = await page.locator('#readouts').boundingBox();
  expect(stage && readouts && readouts.y >= stage.y + stage.height - 1).toBe(true);
  expect(readouts && readouts.width).toBeGreaterThan(300);
  // Touch opens the panel.
  await page.locator('#ui-gui > .lil-title').tap();
  await expect(page.locator('#ui-gui')).not.toHaveClass(/lil-closed/);
  await rankChip(page, 16).tap();
  await expect.poll(async () => (await ss(page)).memoryPerRank.length).toBe(16);
  await saveScreenshot(page, testInfo, 'phone');
  expectNoConsoleErrors(log);
  await context.close();
});
