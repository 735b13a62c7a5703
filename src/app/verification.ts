// Reruns the sharded-attention check when the params that shape it change. The work happens in a
// Web Worker (verification.worker.ts): the main thread only posts { version, params } and shows
// what comes back. Requests are debounced and tagged with the store's params version; the worker
// runs only the latest, stops submitting an older run's dispatches, and any reply for an older
// version is dropped here.

import type { Params } from '../model/params.ts';
import type { Store } from './store.ts';
import type { ExecutedSize, VerificationSummary, WorkerReply, WorkerRequest } from './verification.worker.ts';
import type { Clamp, ExecutionBudget } from './executionBudget.ts';
import { formatBytes, formatSeconds } from '../model/format.ts';

/** The fields the executed run depends on; the modelled sequence length is not one of them. */
const EXECUTED_FIELDS = ['strategy', 'ranks', 'ulysses', 'heads', 'kvHeads', 'headDim', 'execSeq', 'seed', 'localMask', 'dtype'] as const;

export type { VerificationSummary };

export interface VerificationStatus {
  readonly running: boolean;
  readonly result: VerificationSummary | null;
  readonly error: string | null;
  /** The params version the status describes (result and error are for this version or null). */
  readonly version: number;
  /** What the run executes after the budget: sizes, price, and the clamp when one applied. */
  readonly executed: ExecutedSize | null;
  readonly clamps: Clamp[];
  /** The budget the run was priced with; after its result, the budget refitted to its timings (measured rates). */
  readonly budget: ExecutionBudget | null;
  /** The budget as one sentence for the page (where it comes from, what it allows). */
  readonly budgetText: string;
  /** clampMessage's sentence when the budget shrank the run (fields or the backward), else ''. */
  readonly clampText: string;
}

export interface VerificationEvents {
  /** Called with each run's clamps (empty when the run fits), for the page's message line. */
  onClamp?(clamps: Clamp[], text: string): void;
}

/** Where the controller sends work: the worker in the page, a fake in tests. */
export interface VerificationPort {
  postMessage(message: WorkerRequest): void;
  onmessage: ((event: MessageEvent<WorkerReply>) => void) | null;
  terminate?(): void;
}

export function createVerificationWorker(): VerificationPort {
  return new Worker(new URL('./verification.worker.ts', import.meta.url), { type: 'module', name: 'shardscope-verification' }) as unknown as VerificationPort;
}

/**
 * One sentence for the page when the budget shrank the run: each field requested → used or the
 * dropped backward, with the budget line that forced it, and the executed size. "The attention
 * check is over this adapter's execution budget, so it runs execSeq 16384 → 128 and heads 32 → 1
 * (GPU memory 4.84 GB ≥ 268 MB), and the forward pass only (estimated GPU time 16.4 s > 10.0 s on
 * this adapter), on 64 ranks × 128 tokens × 1 heads × 16."
 */
export function clampMessage(clamps: readonly Clamp[], executed: ExecutedSize | null): string {
  if (clamps.length === 0) return '';
  const groups: { over: string; items: string[] }[] = [];
  for (const c of clamps) {
    const item = c.field === 'backward' ? 'the forward pass only' : `${c.field} ${c.requested} → ${c.used}`;
    const last = groups[groups.length - 1];
    if (last && last.over === c.over) last.items.push(item);
    else groups.push({ over: c.over, items: [item] });
  }
  const list = (items: string[]): string => (items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}` : (items[0] ?? ''));
  const what = groups.map((g) => `${list(g.items)} (${g.over})`).join(', and ');
  const size = executed ? `, on ${executed.ranks} ranks × ${executed.execSeq} tokens × ${executed.heads} heads × ${executed.headDim}` : '';
  return `The attention check is over this adapter's execution budget, so it runs ${what}${size}.`;
}

export class VerificationController {
  #port: VerificationPort;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #status: VerificationStatus = { running: false, result: null, error: null, version: -1, executed: null, clamps: [], budget: null, budgetText: '', clampText: '' };
  readonly #listeners = new Set<(status: VerificationStatus) => void>();
  /** Replies dropped because a newer version had been requested (for tests and the bench). */
  stale = 0;
  cancelled = 0;

  constructor(
    private readonly store: Store,
    port: VerificationPort = createVerificationWorker(),
    private readonly debounceMs = 150,
    private readonly events: VerificationEvents = {},
  ) {
    this.#port = port;
    this.#port.onmessage = (event) => this.#receive(event.data);
    store.subscribe((state, previous) => {
      if (EXECUTED_FIELDS.some((k) => state.params[k] !== previous.params[k])) this.schedule();
    });
  }

  get status(): VerificationStatus {
    return this.#status;
  }

  /** After a lost device on the main thread: the worker keeps its own device, so just rerun. */
  setDevice(_device: GPUDevice | null): void {
    this.schedule(0);
  }

  schedule(delay = this.debounceMs): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#post(), delay);
  }

  subscribe(listener: (status: VerificationStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#port.terminate?.();
  }

  #post(): void {
    const { version } = this.store.state;
    const params: Params = { ...this.store.state.params };
    // The previous result stays on screen (marked "rechecking") until this version's arrives.
    this.#set({ ...this.#status, running: true, version, error: null });
    this.#port.postMessage({ type: 'run', version, params });
  }

  #receive(reply: WorkerReply): void {
    if (reply.version !== this.#status.version) {
      if (reply.type === 'cancelled') this.cancelled++;
      else this.stale++;
      return;
    }
    switch (reply.type) {
      case 'started': {
        const clampText = clampMessage(reply.clamps, reply.executed);
        this.#set({ ...this.#status, executed: reply.executed, clamps: reply.clamps, budget: reply.budget, budgetText: reply.budgetText, clampText });
        this.events.onClamp?.(reply.clamps, clampText);
        return;
      }
      case 'result':
        // The budget as refitted to this run's timings (measured rates), for the readout and window.shardscope.
        this.#set({ ...this.#status, running: false, result: reply.result, error: null, ...(reply.budget ? { budget: reply.budget, budgetText: reply.budgetText ?? this.#status.budgetText } : {}) });
        return;
      case 'error':
        this.#set({ ...this.#status, running: false, result: null, error: reply.message });
        return;
      case 'cancelled':
        // Cancelled although still current: cannot happen (cancel means a newer version), but never hang.
        this.cancelled++;
        return;
    }
  }

  #set(status: VerificationStatus): void {
    this.#status = status;
    for (const listener of this.#listeners) listener(status);
  }
}

/** "≈ 12 MB GPU, 3.1 GFLOP": the executed run's price, for the readout. */
export function describePrice(executed: ExecutedSize | null): string {
  const p = executed?.price;
  if (!p) return '';
  const flops = p.work >= 1e9 ? `${(p.work / 1e9).toFixed(1)} GFLOP` : `${(p.work / 1e6).toFixed(0)} MFLOP`;
  const time = executed?.estimatedGpuMs != null ? `, ≈ ${formatSeconds(executed.estimatedGpuMs / 1000)} of GPU time` : '';
  return `${p.deviceBytes ? `${formatBytes(p.deviceBytes)} GPU memory, ` : ''}${formatBytes(p.hostBytes)} page memory, ${flops}, ${p.dispatches} dispatches${time}`;
}
