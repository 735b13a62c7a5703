// Shared Playwright helpers: collect console errors, wait for the app, read window.shardscope.
import { expect, type Page, type TestInfo } from '@playwright/test';

export interface ConsoleLog {
  errors: string[];
}

/** Starts collecting console errors and page exceptions; call before page.goto. */
export function watchConsole(page: Page): ConsoleLog {
  const log: ConsoleLog = { errors: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') log.errors.push(message.text());
  });
  page.on('pageerror', (error) => log.errors.push(`pageerror: ${error.message}`));
  return log;
}

export async function openApp(page: Page, path = './'): Promise<void> {
  await page.goto(path);
  await page.waitForFunction(() => (window as unknown as { shardscope?: { ready?: boolean } }).shardscope?.ready === true, undefined, { timeout: 60_000 });
}

export async function state<T = Record<string, unknown>>(page: Page): Promise<T> {
  return page.evaluate(() => JSON.parse(JSON.stringify(window.shardscope)) as unknown) as Promise<T>;
}

/** Waits until the verification for the current params has a result. */
export async function waitForVerification(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const s = window.shardscope as { verification?: unknown; verificationError?: unknown };
    return s.verification != null || s.verificationError != null;
  }, undefined, { timeout: 90_000 });
}

export async function saveScreenshot(page: Page, testInfo: TestInfo, name: string): Promise<Buffer> {
  const shot = await page.screenshot({ fullPage: false });
  await testInfo.attach(name, { body: shot, contentType: 'image/png' });
  return shot;
}

export function expectNoConsoleErrors(log: ConsoleLog): void {
  expect(log.errors, `console errors:\n${log.errors.join('\n')}`).toEqual([]);
}
