// The store coalesces changes (one plan and one notification for a burst) and the verification
// controller keeps only the latest version's replies: stale results and cancellations are dropped.
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_PARAMS } from '../model/params.ts';
import { Store } from './store.ts';
import { VerificationController, clampMessage, type VerificationPort } from './verification.ts';
import type { WorkerReply, WorkerRequest } from './verification.worker.ts';

class FakePort implements VerificationPort {
  onmessage: ((event: MessageEvent<WorkerReply>) => void) | null = null;
  readonly posted: WorkerRequest[] = [];
  postMessage(message: WorkerRequest): void {
    this.posted.push(message);
  }
  reply(message: WorkerReply): void {
    this.onmessage?.({ data: message } as MessageEvent<WorkerReply>);
  }
}

const summary = (heads: number) => ({ strategy: 'ring', ranks: 8, seqLen: 256, heads, kvHeads: 8, headDim: 128, maxAbsError: 1e-7, maxRelError: 1e-5, gpuMs: 1, maxAbsErrorVsCpu: 1e-7, backend: 'gpu', localMask: false, softmaxTrace: null, unshardedGpuMs: null, unshardedVsCpu: null, cpuRowsChecked: 256, dispatches: 73, copies: 0 }) as never;

describe('store', () => {
  it('computes the plan lazily and notifies once for a burst of changes (deferred mode)', async () => {
    vi.useFakeTimers();
    try {
      const store = new Store({ ...DEFAULT_PARAMS }, { sync: false });
      const seen: number[] = [];
      store.subscribe((state, previous) => seen.push(state.version - previous.version));
      for (let i = 0; i < 10; i++) store.setParams({ seq: 65536 * (i + 1) });
      expect(store.stats.plans).toBe(0); // nobody read a plan yet
      expect(seen).toEqual([]);
      vi.advanceTimersByTime(150);
      expect(seen).toEqual([10]); // one notification spanning the ten versions
      expect(store.state.plan.params.seq).toBe(655360);
      expect(store.stats.plans).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('verification controller', () => {
  it('posts the latest version only and drops replies for older versions', async () => {
    vi.useFakeTimers();
    try {
      const store = new Store({ ...DEFAULT_PARAMS }, { sync: true });
      const port = new FakePort();
      const controller = new VerificationController(store, port, 50);
      for (const heads of [16, 8, 4]) store.setParams({ heads, kvHeads: Math.min(8, heads) });
      vi.advanceTimersByTime(60);
      expect(port.posted.map((m) => m.version)).toEqual([3]); // debounced: one request, the latest
      port.reply({ type: 'result', version: 2, result: summary(8), workerMs: 1 }); // a stale one
      expect(controller.status.result).toBeNull();
      expect(controller.stale).toBe(1);
      port.reply({ type: 'result', version: 3, result: summary(4), workerMs: 1 });
      expect(controller.status.result?.heads).toBe(4);
      expect(controller.status.running).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a clamp reaches the page as one sentence naming the fields and the executed size', () => {
    const text = clampMessage(
      [
        { field: 'execSeq', requested: 16384, used: 128, over: 'GPU memory 4.84 GB ≥ 268 MB' },
        { field: 'heads', requested: 32, used: 1, over: 'GPU memory 4.84 GB ≥ 268 MB' },
      ],
      { execSeq: 128, heads: 1, kvHeads: 1, headDim: 128, ranks: 64, price: null },
    );
    expect(text).toBe('The attention check asks for execSeq=16384 and heads=32, above this device\'s execution budget (GPU memory 4.84 GB ≥ 268 MB); it runs execSeq=128 and heads=1 (64 ranks × 128 tokens × 1 heads × 128) instead.');
  });
});
