// The page's planner thread (planner.ts does the work; store.ts sends one request at a time, for
// the newest params).

import { Planner } from './planner.ts';
import type { PlanReply, PlanRequest } from './store.ts';

const scope = self as unknown as { postMessage(message: PlanReply, transfer: Transferable[]): void; onmessage: ((event: MessageEvent<PlanRequest>) => void) | null };
const planner = new Planner();

scope.onmessage = (event) => {
  const { reply, transfer } = planner.answer(event.data);
  scope.postMessage(reply, transfer);
};
