// The comparison's own thread: the seven rows, the longest-fit searches and the memory-vs-length
// sweep price hundreds of plans (at 64 ranks ~40 ms each), which on the main thread stalled frames
// for seconds after every change. The worker runs the same CompareEngine the CLI's numbers come
// from and posts each snapshot back; the page (CompareWorkerClient) shows the latest one that
// belongs to its current params.

import { CompareEngine, type CompareSnapshot, type MinRanksSnapshot } from './compareEngine.ts';
import type { Params } from '../model/params.ts';

export type CompareRequest = { type: 'params'; params: Params } | { type: 'min-ranks'; seq: number };
export interface CompareReply {
  type: 'snapshot';
  snapshot: CompareSnapshot | null;
  minRanks: MinRanksSnapshot | null;
}

const scope = self as unknown as { postMessage(message: CompareReply): void; onmessage: ((event: MessageEvent<CompareRequest>) => void) | null };

let posted = false;
const engine = new CompareEngine(() => {
  // Several publishes in one slice of work become one message.
  if (posted) return;
  posted = true;
  queueMicrotask(() => {
    posted = false;
    scope.postMessage({ type: 'snapshot', snapshot: engine.snapshot, minRanks: engine.minRanks });
  });
});

scope.onmessage = (event) => {
  const request = event.data;
  if (request.type === 'params') engine.setParams(request.params, null);
  else engine.requestMinRanks(request.seq);
};
