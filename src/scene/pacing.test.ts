import { describe, expect, it } from 'vitest';
import { createFramePacer, SLOW_FRAME_MS } from './pacing.ts';

/** The WebGL2 calls the pacer makes, with a fence the test signals by hand. */
function fakeGl() {
  const SIGNALED = 0x9119;
  const UNSIGNALED = 0x9118;
  const fences = new Map<object, boolean>();
  const gl = {
    SYNC_GPU_COMMANDS_COMPLETE: 0x9117,
    SYNC_STATUS: 0x9114,
    SIGNALED,
    fenceSync: () => {
      const f = {};
      fences.set(f, false);
      return f;
    },
    getSyncParameter: (f: object) => (fences.get(f) ? SIGNALED : UNSIGNALED),
    deleteSync: (f: object) => fences.delete(f),
    flush: () => {},
  };
  return { gl: gl as unknown as WebGL2RenderingContext, signalAll: () => fences.forEach((_, f) => fences.set(f, true)), live: () => fences.size };
}

describe('frame pacing', () => {
  it('WebGL2: holds the next frame until the fence of the last one signals, and frees the fence', () => {
    const { gl, signalAll, live } = fakeGl();
    const pacer = createFramePacer({ isWebGPUBackend: false, gl });
    expect(pacer.ready).toBe(true);
    pacer.submitted();
    expect(pacer.ready).toBe(false);
    expect(pacer.ready).toBe(false);
    signalAll();
    expect(pacer.ready).toBe(true);
    expect(live()).toBe(0);
  });

  it('WebGL2: a fence that never signals (a lost context) is dropped after 2 s', () => {
    const { gl } = fakeGl();
    let t = 0;
    const pacer = createFramePacer({ isWebGPUBackend: false, gl }, () => t);
    pacer.submitted();
    t = 1999;
    expect(pacer.ready).toBe(false);
    t = 2001;
    expect(pacer.ready).toBe(true);
  });

  it('after a slow frame (over SLOW_FRAME_MS) the GPU rests as long again; after a fast one it does not', () => {
    const { gl, signalAll } = fakeGl();
    let t = 0;
    const pacer = createFramePacer({ isWebGPUBackend: false, gl }, () => t);
    pacer.submitted();
    t = 200; // a 200 ms frame, as on a software GPU at 64 ranks
    signalAll();
    expect(pacer.ready).toBe(false); // done, but resting until t = 400
    t = 399;
    expect(pacer.ready).toBe(false);
    t = 400;
    expect(pacer.ready).toBe(true);
    pacer.submitted();
    t = 400 + SLOW_FRAME_MS - 10;
    signalAll();
    expect(pacer.ready).toBe(true);
  });

  it('WebGPU: ready once the queue reports the submitted work done', async () => {
    let done: () => void = () => {};
    const device = { queue: { onSubmittedWorkDone: () => new Promise<void>((resolve) => (done = resolve)) } } as unknown as GPUDevice;
    const pacer = createFramePacer({ isWebGPUBackend: true, device });
    pacer.submitted();
    expect(pacer.ready).toBe(false);
    done();
    await Promise.resolve();
    expect(pacer.ready).toBe(true);
  });

  it('WebGPU: an older frame finishing does not release a newer one', async () => {
    const resolvers: (() => void)[] = [];
    const device = { queue: { onSubmittedWorkDone: () => new Promise<void>((resolve) => resolvers.push(resolve)) } } as unknown as GPUDevice;
    const pacer = createFramePacer({ isWebGPUBackend: true, device });
    pacer.submitted();
    pacer.submitted();
    resolvers[0]?.();
    await Promise.resolve();
    expect(pacer.ready).toBe(false);
    resolvers[1]?.();
    await Promise.resolve();
    expect(pacer.ready).toBe(true);
  });
});
