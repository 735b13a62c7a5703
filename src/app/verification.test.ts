// The store coalesces changes (one plan and one notification for a burst) and the verification
// controller keeps only the latest version's replies: stale results and cancellations are dropped.
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_PARAMS } from '../model/params.ts';
import { Store } from './store.ts';
import { VerificationController, clampMessage, type VerificationPort } from './verification.ts';
import type { WorkerReply, WorkerRequest } from './verification.worker.ts';
import { describeBudget, gpuBudget } from './executionBudget.ts';

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

  it('a clamp reaches the page as one sentence naming each field requested → used, the executed size and the cap', () => {
    const over = 'GPU memory 4.84 GB ≥ 268 MB';
    const text = clampMessage(
      [
        { field: 'execSeq', requested: 16384, used: 128, over },
        { field: 'heads', requested: 32, used: 1, over },
      ],
      { execSeq: 128, heads: 1, kvHeads: 1, headDim: 128, ranks: 64, price: null },
    );
    expect(text).toBe("The attention check is over this adapter's execution budget, so it runs execSeq 16384 → 128 and heads 32 → 1 (GPU memory 4.84 GB ≥ 268 MB), on 64 ranks × 128 tokens × 1 heads × 128.");
  });

  it('a dropped backward is said in the same sentence, alone or after the fields, each with its budget line', () => {
    const over = 'estimated GPU time 23.0 s > 10.0 s on this adapter';
    const size = { execSeq: 128, heads: 2, kvHeads: 2, headDim: 128, ranks: 64, price: null };
    expect(clampMessage([{ field: 'backward', requested: 1, used: 0, over }], size)).toBe(
      "The attention check is over this adapter's execution budget, so it runs the forward pass only (estimated GPU time 23.0 s > 10.0 s on this adapter), on 64 ranks × 128 tokens × 2 heads × 128.",
    );
    expect(clampMessage([{ field: 'execSeq', requested: 256, used: 128, over }, { field: 'heads', requested: 32, used: 2, over }, { field: 'headDim', requested: 256, used: 128, over }, { field: 'backward', requested: 1, used: 0, over }], size)).toBe(
      "The attention check is over this adapter's execution budget, so it runs execSeq 256 → 128, heads 32 → 2, headDim 256 → 128 and the forward pass only (estimated GPU time 23.0 s > 10.0 s on this adapter), on 64 ranks × 128 tokens × 2 heads × 128.",
    );
    const memory = 'GPU memory 4.84 GB ≥ 268 MB';
    expect(clampMessage([{ field: 'execSeq', requested: 16384, used: 128, over: memory }, { field: 'backward', requested: 1, used: 0, over }], size)).toBe(
      "The attention check is over this adapter's execution budget, so it runs execSeq 16384 → 128 (GPU memory 4.84 GB ≥ 268 MB), and the forward pass only (estimated GPU time 23.0 s > 10.0 s on this adapter), on 64 ranks × 128 tokens × 2 heads × 128.",
    );
    expect(clampMessage([], size)).toBe('');
  });

  it("a run's result carries the budget refitted to its timings: the status shows the measured rates", () => {
    vi.useFakeTimers();
    try {
      const store = new Store({ ...DEFAULT_PARAMS }, { sync: true });
      const port = new FakePort();
      const controller = new VerificationController(store, port, 0);
      controller.schedule(0);
      vi.advanceTimersByTime(1);
      const version = port.posted.at(-1)?.version ?? 0;
      const assumed = gpuBudget({ maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28 }, null, true);
      const executed = { execSeq: 256, heads: 32, kvHeads: 8, headDim: 128, ranks: 8, price: null };
      port.reply({ type: 'started', version, backend: 'gpu', adapter: 'SwiftShader', budget: assumed, budgetText: describeBudget(assumed), executed, clamps: [] });
      expect(controller.status.budget?.measured).toBe(false);
      const measured = gpuBudget({ maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28 }, { flopPerMs: 3e5, msPerDispatch: 0.9, timedParts: 4 }, true);
      port.reply({ type: 'result', version, result: summary(32), workerMs: 1, budget: measured, budgetText: describeBudget(measured) });
      expect(controller.status.budget).toMatchObject({ measured: true, flopPerMs: 3e5, msPerDispatch: 0.9, timedParts: 4 });
      expect(controller.status.budgetText).toContain('0.30 GFLOP/s and 0.9 ms per dispatch measured on this adapter');
    } finally {
      vi.useRealTimers();
    }
  });
});
