// theme=transparent on a slide (issue 8): in an iframe on a white host page, the frame paints
// nothing of its own outside what it draws, so the host's background shows through (Chromium
// paints an opaque backdrop behind an iframe whose colour scheme differs from the host's), and
// ink=dark gives dark text for a light slide. Runs on the WebGL2 path, which is deterministic here.
import { expect, test } from '@playwright/test';
import { decodePng, pixel } from './helpers/png.ts';

const APP = process.env.SHARDSCOPE_APP ?? './';

test('theme=transparent is transparent on a white slide, with the slide’s ink', async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 1040, height: 620 });
  await page.goto(APP);
  const src = new URL(`${APP}?embed=1#strategy=ring&seq=64K&ranks=4&theme=transparent&ink=dark&execSeq=64`, page.url()).toString();
  const host = new URL('/__white-host.html', page.url()).toString();
  await page.route(host, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><html><head><title>slide</title><link rel="icon" href="data:,"></head><body style="margin:0;background:#ffffff"><iframe src="${src}" style="position:absolute;left:40px;top:40px;width:960px;height:540px;border:0"></iframe></body></html>`,
    }),
  );
  await page.goto(host);
  const frame = await (await page.waitForSelector('iframe')).contentFrame();
  if (!frame) throw new Error('no iframe');
  await frame.waitForFunction(() => (window as unknown as { shardscope?: { ready?: boolean } }).shardscope?.ready === true, undefined, { timeout: 90_000 });
  await frame.waitForFunction(() => ((window as unknown as { shardscope: { sceneInfo?: { instances: number } } }).shardscope.sceneInfo?.instances ?? 0) > 0, undefined, { timeout: 60_000 });
  await page.waitForTimeout(500);
  const shot = await page.screenshot();
  await testInfo.attach('transparent-on-white.png', { body: shot, contentType: 'image/png' });
  const img = decodePng(shot);

  // Outside the drawn content: the iframe's left strip (nothing is drawn left of x = 8), top to bottom.
  const off: string[] = [];
  for (let y = 42; y < 40 + 538; y += 3) {
    for (const x of [41, 43, 45]) {
      const [r, g, b] = pixel(img, x, y);
      if (r < 250 || g < 250 || b < 250) off.push(`(${x},${y}) = ${r},${g},${b}`);
    }
  }
  expect(off.slice(0, 10), 'host background visible through the frame').toEqual([]);
  // Something is drawn inside the frame (the picture is not simply missing).
  let drawn = 0;
  for (let y = 100; y < 400; y += 4) for (let x = 140; x < 700; x += 4) if (pixel(img, x, y)[0] < 200) drawn++;
  expect(drawn).toBeGreaterThan(200);
  // The ink: the title is dark on the light slide.
  const colour = await frame.evaluate(() => getComputedStyle(document.querySelector('#scene-overlay .ss-title') as Element).color);
  const [r, g, b] = (colour.match(/\d+/g) ?? []).map(Number);
  expect((r ?? 255) + (g ?? 255) + (b ?? 255)).toBeLessThan(200);
});
