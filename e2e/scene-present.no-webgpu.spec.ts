// The scene on a slide (issue 8), on the WebGL2 path (deterministic on a loaded CI machine; the
// labels are DOM either way): for every strategy, in embed mode at 640×360, 960×540 and
// 1280×720, pressing → lands on the end of the next step's motion within the step's duration,
// the scene's text labels neither overlap nor leave the frame (measured from the DOM), and a
// screenshot of each is kept as a test artifact (and in SCENE_SHOTS_DIR when set).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { expectNoConsoleErrors, openApp, state, watchConsole } from './fixtures.ts';
import { overlappingLabels } from './helpers/labels.ts';

const APP = process.env.SHARDSCOPE_APP ?? './';
const SIZES = [
  [640, 360],
  [960, 540],
  [1280, 720],
] as const;

/** Per strategy: a hash, and the 1-based step to start from so that → enters a step with transfers. */
const CASES: Record<string, { hash: string; from: number }> = {
  allgather: { hash: 'strategy=allgather&seq=128K&ranks=8', from: 6 },
  ring: { hash: 'strategy=ring&seq=128K&ranks=8', from: 1 },
  zigzag: { hash: 'strategy=zigzag&seq=128K&ranks=8', from: 1 },
  striped: { hash: 'strategy=striped&seq=128K&ranks=8', from: 1 },
  ulysses: { hash: 'strategy=ulysses&seq=128K&ranks=8', from: 2 },
  'megatron-sp': { hash: 'strategy=megatron-sp&seq=128K&ranks=4', from: 2 },
  usp: { hash: 'strategy=usp&seq=128K&ranks=8&ulysses=2', from: 1 },
};

interface PlaybackState {
  step: number;
  stepCount: number;
  playing: boolean;
  progress: number;
  settled: boolean;
}

async function playback(page: Page): Promise<PlaybackState> {
  return (await state<{ playback: PlaybackState }>(page)).playback;
}

const shotsDir = process.env.SCENE_SHOTS_DIR;
if (shotsDir) mkdirSync(shotsDir, { recursive: true });

for (const [strategy, c] of Object.entries(CASES)) {
  test(`present: ${strategy} lands each step and keeps its labels apart at three sizes`, async ({ page }, testInfo) => {
    const log = watchConsole(page);
    await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204, body: '' }));
    await page.setViewportSize({ width: 960, height: 540 });
    // Reduced motion off (the default); execSeq small so the verification run stays short.
    await openApp(page, `${APP}?embed#${c.hash}&execSeq=64&step=${c.from}`);
    const start = await playback(page);
    expect(start.step).toBe(c.from - 1);
    expect(start.settled).toBe(true);

    // Stepping: → once enters step k+1 and settles there within the step's duration.
    await page.locator('#scene-canvas').focus();
    const t0 = Date.now();
    await page.keyboard.press('ArrowRight');
    const entered = await playback(page);
    expect(entered.step).toBe(c.from);
    await expect.poll(async () => (await playback(page)).settled, { timeout: 10_000, intervals: [50] }).toBe(true);
    const took = Date.now() - t0;
    // 1.25 s of animation; SwiftShader frames are slow, so allow generous wall time on top.
    expect(took).toBeLessThan(6_000);
    const end = await playback(page);
    expect(end).toMatchObject({ step: c.from, progress: 1, playing: false });
    // The URL and the counter say the same 1-based step.
    await expect.poll(() => page.evaluate(() => location.hash)).toContain(`step=${c.from + 1}`);
    await expect(page.locator('.ss-counter')).toHaveText(new RegExp(`^\\s*${c.from + 1}\\s*/`));

    // The big counter: "ROUND k / n" within the phase (or the phase alone), the URL's step in its title.
    await expect(page.locator('#scene-overlay .ss-round-count')).toHaveText(/^(ROUND \d+ \/ \d+|LOSS)$/);
    await expect(page.locator('#scene-overlay .ss-round')).toHaveAttribute('title', new RegExp(`step ${c.from + 1} of ${end.stepCount}$`));
    // Where heads are split across ranks, the lanes name their heads (the head axis).
    if (['ulysses', 'megatron-sp', 'usp'].includes(strategy)) await expect(page.locator('#scene-overlay .ss-heads').first()).toHaveText(/^(heads |h)\d+(–\d+)?( of \d+)?$/);
    else await expect(page.locator('#scene-overlay .ss-heads')).toHaveCount(0);

    const problems: string[] = [];
    for (const [w, h] of SIZES) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(400);
      const bad = await overlappingLabels(page);
      const shot = await page.screenshot();
      const name = `present-${strategy}-${w}x${h}.png`;
      await testInfo.attach(name, { body: shot, contentType: 'image/png' });
      if (shotsDir) writeFileSync(join(shotsDir, name), shot);
      for (const b of bad) problems.push(`${w}×${h}: ${b}`);
    }
    expect(problems, `${strategy}: overlapping or clipped labels`).toEqual([]);
    if (strategy === 'ring') {
      // Rank inspector: a click on a rank label opens it; Escape closes; Enter on a focused label opens it.
      await page.locator('#scene-overlay .ss-rank', { hasText: /^rank 3$/ }).click();
      await expect(page.locator('.ss-inspector')).toBeVisible();
      await expect(page.locator('.ss-inspector')).toContainText('rank 3');
      await expect(page.locator('.ss-inspector')).toContainText(/receives K,V from r2/);
      // Its memory at this step and at its busiest step, from the plan (modelled bytes, with units).
      await expect(page.locator('.ss-inspector')).toContainText(/memory at this step: [\d.]+ [kMGT]?B \(\d+% of the /);
      await expect(page.locator('.ss-inspector')).toContainText(/busiest step \d+: [\d.]+ [kMGT]?B = weights /);
      await page.keyboard.press('Escape');
      await expect(page.locator('.ss-inspector')).toBeHidden();
      await page.locator('#scene-overlay .ss-rank', { hasText: /^rank 5$/ }).focus();
      await page.keyboard.press('Enter');
      await expect(page.locator('.ss-inspector')).toContainText('rank 5');
      await testInfo.attach('present-ring-inspector.png', { body: await page.screenshot(), contentType: 'image/png' });
      if (shotsDir) writeFileSync(join(shotsDir, 'present-ring-inspector.png'), await page.screenshot());
    }
    const s = await state<{ sceneInfo: { dropped: number } }>(page);
    expect(s.sceneInfo.dropped).toBe(0);
    expectNoConsoleErrors(log);
  });
}
