import { test } from '@playwright/test';
import { openApp, state } from './fixtures.ts';
test('debug', async ({ page }) => {
  page.on('console', (m) => console.log('console', m.type(), m.text().slice(0, 300)));
  await page.setViewportSize({ width: 960, height: 540 });
  await openApp(page, `./?embed#strategy=ring&seq=128K&ranks=8&execSeq=64&step=2`);
  await page.waitForTimeout(3000);
  const s = await state<any>(page);
  console.log(JSON.stringify({ errors: s.errors, sceneInfo: s.sceneInfo, playback: s.playback }));
  await page.screenshot({ path: '/tmp/scene-shots/debug.png' });
});
