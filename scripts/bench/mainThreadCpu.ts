// Main-thread CPU time of a page, per window between performance marks, from a Chromium trace.
// Wall-clock in the page measures the machine as much as the page: on two shared cores the
// renderer's main thread competes with SwiftShader's GPU process and the app's workers, and a
// 5 ms task can take 50 ms of wall time. The trace records each main-thread task's thread time
// (`tdur`), which is what the page itself costs.
import type { Browser, Page } from '@playwright/test';

interface TraceEvent {
  readonly name: string;
  readonly ph: string;
  readonly pid: number;
  readonly tid: number;
  readonly ts: number;
  readonly dur?: number;
  readonly tdur?: number;
  readonly args?: { readonly name?: string };
  readonly id?: string;
  readonly id2?: { readonly local?: string };
}

/** performance.now()'s coarsening without cross-origin isolation, with its jitter (µs). */
const CLOCK_SLACK_US = 200;

const CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink.user_timing'];

/** Main-thread CPU per window: the total, the longest single task (what delays a frame), and the CPU inside the named User Timing spans. */
export interface WindowCpu {
  readonly cpu: number[];
  readonly longestTask: number[];
  readonly inSpans: number[];
  /** The same, per span name. */
  readonly bySpan: Record<string, number[]>;
}

/** Starts tracing `page`; `stop()` returns the renderer main thread's CPU ms in each window between the marks named `${prefix}0`, `${prefix}1`, …, `${prefix}end`. */
export async function traceMainThread(browser: Browser, page: Page): Promise<{ stop(prefix: string, spans?: readonly string[]): Promise<WindowCpu> }> {
  await browser.startTracing(page, { categories: CATEGORIES });
  return {
    async stop(prefix, spans = []) {
      const buffer = await browser.stopTracing();
      const parsed = JSON.parse(buffer.toString('utf8')) as { traceEvents: TraceEvent[] } | TraceEvent[];
      const events = Array.isArray(parsed) ? parsed : parsed.traceEvents;
      const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
      if (!main) throw new Error('the trace has no renderer main thread');
      const marks = events
        .filter((e) => e.pid === main.pid && e.name.startsWith(prefix) && (e.ph === 'R' || e.ph === 'I' || e.ph === 'n' || e.ph === 'b'))
        .sort((a, b) => a.ts - b.ts);
      const tasks = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask'));
      // User Timing measures are async events: a begin and an end with the same name and id.
      const opened = new Map<string, number>();
      const intervals: [number, number, string][] = [];
      for (const e of events.filter((x) => x.pid === main.pid && spans.includes(x.name)).sort((a, b) => a.ts - b.ts)) {
        const key = `${e.name}|${e.id ?? e.id2?.local ?? ''}`;
        if (e.ph === 'b') opened.set(key, e.ts);
        else if (e.ph === 'e' && opened.has(key)) {
          intervals.push([opened.get(key) as number, e.ts, e.name]);
          opened.delete(key);
        }
      }
      // A span's CPU: the thread time of the innermost traced event that holds the whole span (the
      // animation-frame callback, the message handler, the timer), pro rata to the span's share of
      // its wall time. Pro-rating the whole task instead would charge the span with the browser's
      // style, layout and paint that run in the same task (a frame's task holds both).
      // The span's edges come from performance.now(), which Chromium coarsens to 100 µs (with jitter)
      // on a page that is not cross-origin isolated: a span can seem to start a little before the
      // callback that holds it, so holding is judged with that slack and the span clipped to its holder.
      const nested = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.tdur !== undefined && (e.dur ?? 0) > 0);
      const cpuWithin = (from: number, to: number): number => {
        let holder: TraceEvent | undefined;
        for (const e of nested) if (e.ts <= from + CLOCK_SLACK_US && e.ts + (e.dur ?? 0) >= to - CLOCK_SLACK_US && (!holder || (e.dur ?? 0) < (holder.dur ?? 0))) holder = e;
        if (!holder) return to - from;
        const wall = Math.min(to, holder.ts + (holder.dur ?? 0)) - Math.max(from, holder.ts);
        return (holder.tdur ?? 0) * Math.min(1, Math.max(0, wall) / Math.max(1, holder.dur ?? 1));
      };
      const windows: number[] = [];
      const longestTask: number[] = [];
      const inSpans: number[] = [];
      const bySpan: Record<string, number[]> = Object.fromEntries(spans.map((name) => [name, []]));
      for (let i = 0; i + 1 < marks.length; i++) {
        const from = (marks[i] as TraceEvent).ts;
        const to = (marks[i + 1] as TraceEvent).ts;
        let us = 0;
        let longest = 0;
        for (const t of tasks) {
          // A task is counted in the window it started in; the marking task itself starts before the first mark.
          const start = t.ts;
          const end = t.ts + (t.dur ?? 0);
          if (end <= from || start >= to) continue;
          // Thread time, pro rata for a task that straddles a mark (the change's own task does: the mark is inside it).
          const overlap = (Math.min(end, to) - Math.max(start, from)) / Math.max(1, t.dur ?? 1);
          us += (t.tdur ?? t.dur ?? 0) * overlap;
          longest = Math.max(longest, (t.tdur ?? t.dur ?? 0) * overlap);
        }
        windows.push(us / 1000);
        longestTask.push(longest / 1000);
        const perName = new Map<string, number>();
        for (const [a, b, name] of intervals) if (a >= from && a < to) perName.set(name, (perName.get(name) ?? 0) + cpuWithin(a, b));
        inSpans.push([...perName.values()].reduce((x, y) => x + y, 0) / 1000);
        for (const name of spans) bySpan[name]?.push((perName.get(name) ?? 0) / 1000);
      }
      return { cpu: windows, longestTask, inSpans, bySpan };
    },
  };
}
