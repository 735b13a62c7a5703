// For the CLI's vitest files (node only): a temporary folder for a file's inputs and outputs, and
// what the command printed, captured per test.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, vi } from 'vitest';

/** A fresh folder under the system's temp dir; returns a function naming a file in it. */
export function tempFolder(prefix: string): (name: string) => string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return (name) => join(dir, name);
}

/** console.log / console.error lines of the current test (emptied before each test; `clear()` empties them mid-test). */
export function captureConsole(): { readonly out: string[]; readonly err: string[]; clear(): void } {
  const out: string[] = [];
  const err: string[] = [];
  const clear = (): void => {
    out.length = 0;
    err.length = 0;
  };
  beforeEach(() => {
    clear();
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  });
  afterEach(() => vi.restoreAllMocks());
  return { out, err, clear };
}
