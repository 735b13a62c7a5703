// Reruns the sharded-attention check when the params that shape it change: debounced, off the
// frame loop, and tagged with the params version so that a stale result is dropped.

import { buildSchedule } from '../model/strategies/index.ts';
import type { Params } from '../model/params.ts';
import { runVerification, runVerificationCpu, type Verification } from '../gpu/verify.ts';
import type { Store } from './store.ts';

/** The fields the executed run depends on; the modelled sequence length is not one of them. */
const EXECUTED_FIELDS = ['strategy', 'ranks', 'ulysses', 'heads', 'kvHeads', 'headDim', 'execSeq', 'seed', 'localMask', 'dtype'] as const;

export interface VerificationStatus {
  readonly running: boolean;
  readonly result: Verification | null;
  readonly error: string | null;
}

export class VerificationController {
  #device: GPUDevice | null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #latestRequest = 0;
  #status: VerificationStatus = { running: false, result: null, error: null };
  readonly #listeners = new Set<(status: VerificationStatus) => void>();

  constructor(
    private readonly store: Store,
    device: GPUDevice | null,
    private readonly debounceMs = 250,
  ) {
    this.#device = device;
    store.subscribe((state, previous) => {
      if (EXECUTED_FIELDS.some((k) => state.params[k] !== previous.params[k])) this.schedule();
    });
  }

  get status(): VerificationStatus {
    return this.#status;
  }

  /** Swaps the device (after a lost device was recreated) and reruns. */
  setDevice(device: GPUDevice | null): void {
    this.#device = device;
    this.schedule(0);
  }

  schedule(delay = this.debounceMs): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#run(), delay);
  }

  subscribe(listener: (status: VerificationStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #run(): Promise<void> {
    const request = ++this.#latestRequest;
    const params: Params = { ...this.store.state.params, seq: this.store.state.params.execSeq };
    const schedule = buildSchedule(params);
    this.#set({ ...this.#status, running: true });
    try {
      if (!schedule.valid) throw new Error(schedule.reason);
      const result = this.#device ? await runVerification(this.#device, params, schedule) : runVerificationCpu(params, schedule);
      if (request === this.#latestRequest) this.#set({ running: false, result, error: null });
    } catch (error) {
      if (request === this.#latestRequest) this.#set({ running: false, result: null, error: error instanceof Error ? error.message : String(error) });
    }
  }

  #set(status: VerificationStatus): void {
    this.#status = status;
    for (const listener of this.#listeners) listener(status);
  }
}
