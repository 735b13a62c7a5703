// What the planner worker (plan.worker.ts) does with each request, apart from the messaging, so
// tests run it directly. For each params version: the priced plan (memory per rank,
// communication, balance, the timeline), the schedule the scene animates, and the scene's work matrix.
//
// What crosses to the page, at 64 ranks: the priced numbers (~0.1–0.3 MB, 1–2 ms to clone), and the
// schedule and matrix as transferred buffers (model/scheduleCodec.ts, scene/matrixTransport.ts),
// decoded on the page a step at a time. Cloning the schedule's ~50,000 objects instead cost the
// page 15–40 ms.

import { replan, type Plan } from '../model/plan.ts';
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
      const { schedule, ...priced } = this.#last;
      // Same schedule as the last answer: the page keeps its decoded copy (and the scene its build).
      if (previous && schedule === previous.schedule) return { reply: { version, priced, schedule: null, matrix: null }, transfer: [] };
      const encoded = encodeSchedule(schedule);
      const matrix = schedule.valid ? packWorkMatrix(schedule) : null;
      return { reply: { version, priced, schedule: encoded, matrix }, transfer: [...transferablesOf(encoded), ...(matrix ? packedTransferables(matrix) : [])] };
    } catch (error) {
      this.#last = null;
      return { reply: { version, error: error instanceof Error ? error.message : String(error) }, transfer: [] };
    }
  }
}
