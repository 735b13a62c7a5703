// What the planner worker (plan.worker.ts) does with each request, apart from the messaging, so
// tests run it directly. For each params version: the priced plan (memory per rank,
// communication, balance, the timeline), the schedule the scene animates, and the scene's work matrix.
//
// What crosses to the page is mostly transferred buffers, decoded on the page when read: the priced
// numbers' per-step series (model/pricedCodec.ts), the schedule (model/scheduleCodec.ts) and the
// matrix (scene/matrixTransport.ts). At 64 ranks, cloning the schedule's ~50,000 objects cost the
// page 15–40 ms, and the timeline's ~8,300 per-rank step times ~4 ms.

import { replan, type Plan } from '../model/plan.ts';
import { encodePriced, pricedTransferables } from '../model/pricedCodec.ts';
import { encodeSchedule, transferablesOf } from '../model/scheduleCodec.ts';
import { packedTransferables, packWorkMatrix } from '../scene/matrixTransport.ts';
import type { PlanReply, PlanRequest } from './store.ts';

export class Planner {
  /** The plan answered last: the next may reuse its schedule, or all of it (model/plan.ts replan). */
  #last: Plan | null = null;

  answer(request: PlanRequest): { reply: PlanReply; transfer: ArrayBuffer[] } {
    const { version, params } = request;
    try {
      const previous = this.#last;
      this.#last = replan(params, previous);
      const { schedule, ...rest } = this.#last;
      const priced = encodePriced(rest);
      // Same schedule as the last answer: the page keeps its decoded copy (and the scene its build).
      if (previous && schedule === previous.schedule) return { reply: { version, priced, schedule: null, matrix: null }, transfer: pricedTransferables(priced) };
      const encoded = encodeSchedule(schedule);
      const matrix = schedule.valid ? packWorkMatrix(schedule) : null;
      return {
        reply: { version, priced, schedule: encoded, matrix },
        transfer: [...pricedTransferables(priced), ...transferablesOf(encoded), ...(matrix ? packedTransferables(matrix) : [])],
      };
    } catch (error) {
      this.#last = null;
      return { reply: { version, error: error instanceof Error ? error.message : String(error) }, transfer: [] };
    }
  }
}
