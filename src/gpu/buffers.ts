// Every GPU buffer the attention classes create goes through a BufferTracker, so a run can destroy
// everything it made and a soak test can prove nothing leaks (created − destroyed stays 0).

interface Counters {
  created: number;
  destroyed: number;
}

const totals = new WeakMap<GPUDevice, Counters>();

/** Buffers created and destroyed through trackers on `device` since it was created. */
export function bufferStats(device: GPUDevice): { created: number; destroyed: number; live: number } {
  const c = totals.get(device) ?? { created: 0, destroyed: 0 };
  return { created: c.created, destroyed: c.destroyed, live: c.created - c.destroyed };
}

export class BufferTracker {
  readonly #live = new Set<GPUBuffer>();
  readonly #counters: Counters;
  created = 0;
  destroyed = 0;

  constructor(readonly device: GPUDevice) {
    let c = totals.get(device);
    if (!c) {
      c = { created: 0, destroyed: 0 };
      totals.set(device, c);
    }
    this.#counters = c;
  }

  /** Creates a labelled buffer; the size is rounded up to a multiple of 4 and at least 4 bytes. */
  create(label: string, size: number, usage: GPUBufferUsageFlags, mappedAtCreation = false): GPUBuffer {
    const buffer = this.device.createBuffer({ label, size: Math.max(4, Math.ceil(size / 4) * 4), usage, mappedAtCreation });
    this.#live.add(buffer);
    this.created++;
    this.#counters.created++;
    return buffer;
  }

  destroy(buffer: GPUBuffer): void {
    if (!this.#live.delete(buffer)) return;
    buffer.destroy();
    this.destroyed++;
    this.#counters.destroyed++;
  }

  destroyAll(): void {
    for (const b of [...this.#live]) this.destroy(b);
  }

  get live(): number {
    return this.#live.size;
  }
}
