// Ending a script without losing output. On a pipe, process.stdout is asynchronous: process.exit()
// with writes still queued cuts the output (64 KiB arrived out of 249 KB). So the exit code goes to
// process.exitCode, stdout and stderr are drained, and only then is the process ended (the Dawn
// GPU module can keep the event loop alive, so an explicit exit is still needed after draining).

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    // Write callbacks run in order, so this one runs after everything written before it is flushed.
    stream.write('', () => resolve());
  });
}

export async function finish(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit();
}
