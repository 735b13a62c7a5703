// Output files of CLI commands: checked before the run, written only after every check has passed,
// and never left half-written. A run that fails leaves the previous file (or no file) in place.
// Usage: `const out = prepareOutput(path, '--out')` right after parsing flags (throws OutputError if
// the path cannot be written), then `out.commit(bytes)` once the result is known to be right.

import { closeSync, mkdtempSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export class OutputError extends Error {
  override readonly name = 'OutputError';
}

const reason = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error);

export interface PreparedOutput {
  /** The flag that named the file, e.g. "--out". */
  readonly flag: string;
  readonly path: string;
  /** Writes the bytes to a temporary file beside `path`, then renames it into place. */
  commit(bytes: Uint8Array): void;
}

/**
 * Checks that `path` can be written: its folder exists and accepts a new file (probed by creating
 * and removing one, which also works as root and on read-only mounts), and it is not a folder.
 * Throws OutputError naming the flag, the path and the reason.
 */
export function prepareOutput(path: string, flag: string): PreparedOutput {
  const full = resolve(path);
  const folder = dirname(full);
  let existing: ReturnType<typeof statSync> | undefined;
  try {
    existing = statSync(full);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new OutputError(`cannot write ${flag} ${path} (${reason(error)}).`);
  }
  if (existing?.isDirectory()) throw new OutputError(`cannot write ${flag} ${path}: it is a folder; give a file name.`);
  try {
    if (!statSync(folder).isDirectory()) throw new OutputError(`cannot write ${flag} ${path}: ${folder} is not a folder.`);
  } catch (error) {
    if (error instanceof OutputError) throw error;
    throw new OutputError(`cannot write ${flag} ${path}: its folder ${folder} does not exist (${reason(error)}).`);
  }
  try {
    const probe = mkdtempSync(join(folder, `.${basename(full)}.check-`));
    rmSync(probe, { recursive: true, force: true });
  } catch (error) {
    throw new OutputError(`cannot write ${flag} ${path}: its folder ${folder} does not accept new files (${reason(error)}).`);
  }
  return {
    flag,
    path,
    commit(bytes: Uint8Array): void {
      const temp = join(folder, `.${basename(full)}.${process.pid}.${Date.now()}.tmp`);
      let fd: number | undefined;
      try {
        fd = openSync(temp, 'wx', 0o644);
        let at = 0;
        while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
        closeSync(fd);
        fd = undefined;
        renameSync(temp, full);
      } catch (error) {
        if (fd !== undefined) closeSync(fd);
        try {
          unlinkSync(temp);
        } catch {
          // the temporary file was never created
        }
        throw new OutputError(`cannot write ${flag} ${path} (${reason(error)}); nothing was written.`);
      }
    },
  };
}

/** Refuses an output that names the same file as another output or as an input (inputs may repeat). */
export function checkDistinct(outputs: readonly { flag: string; path: string }[], inputs: readonly { flag: string; path: string }[] = []): void {
  const seen = new Map<string, string>();
  for (const { flag, path } of inputs) if (!seen.has(resolve(path))) seen.set(resolve(path), flag);
  for (const { flag, path } of outputs) {
    const full = resolve(path);
    const other = seen.get(full);
    if (other !== undefined) throw new OutputError(`${flag} names the same file as ${other} (${path}); give a different file.`);
    seen.set(full, flag);
  }
}
