// Frame pacing: draw a new frame only once the GPU has finished the last one.
//
// On a software adapter (SwiftShader) one frame of a 64-rank scene takes 100–400 ms of GPU time.
// Frames submitted faster than that queue up in the browser's GPU process, and the page's own
// frames (its text, controls and readouts) wait behind them: a slider drag then stalls the whole
// page for seconds. So the scene asks `ready` before drawing. While the GPU is still busy the
// canvas keeps its last image and the frame stays dirty; it is drawn at the first frame after.
// And when a frame took longer than SLOW_FRAME_MS, the GPU rests as long again before the next
// one: a software GPU runs on the same CPU cores as the page, and drawing back to back (measured:
// each 64-rank frame 100–400 ms on two cores) left the page's main thread a tenth of a core, so a
// slider drag took 3–5 s of wall time for 2 s of input. At most half the GPU's time goes to the scene.
// On a hardware GPU the last frame is long done by the next animation frame, and nothing changes.

/** The parts of three's WebGPU and WebGL2 backends read here. */
interface Backend {
  readonly isWebGPUBackend?: boolean;
  readonly device?: GPUDevice | null;
  readonly gl?: WebGL2RenderingContext | null;
}

export interface FramePacer {
  /** Whether the GPU has finished the frames submitted so far. */
  readonly ready: boolean;
  /** Call right after submitting a frame. */
  submitted(): void;
  dispose(): void;
}

/** A fence that never signals (a lost context) must not freeze the scene: after this long it is dropped. */
const MAX_WAIT_MS = 2000;
/** A frame whose GPU work took longer than this (about three display frames) is followed by an equal rest. */
export const SLOW_FRAME_MS = 50;

export function createFramePacer(backend: Backend, now: () => number = () => performance.now()): FramePacer {
  const device = backend.isWebGPUBackend ? backend.device ?? null : null;
  const gl = backend.isWebGPUBackend ? null : backend.gl ?? null;
  let pending = false;
  let since = 0;
  /** When the last frame's GPU work was seen done, and the rest owed after it. */
  let doneAt = -Infinity;
  let restMs = 0;
  let fence: WebGLSync | null = null;
  let generation = 0;

  const clear = (): void => {
    pending = false;
    if (fence && gl) gl.deleteSync(fence);
    fence = null;
  };
  const finished = (): void => {
    clear();
    doneAt = now();
    const gpuMs = doneAt - since;
    restMs = gpuMs > SLOW_FRAME_MS ? Math.min(gpuMs, MAX_WAIT_MS) : 0;
  };

  return {
    get ready(): boolean {
      if (pending) {
        if (now() - since > MAX_WAIT_MS) {
          clear();
          return true;
        }
        // A WebGL fence's status changes between tasks only (WebGL 2 §5.27), so this is polled once per frame.
        if (fence && gl && gl.getSyncParameter(fence, gl.SYNC_STATUS) === gl.SIGNALED) finished();
        if (pending) return false;
      }
      return now() - doneAt >= restMs;
    },
    submitted(): void {
      if (device) {
        pending = true;
        since = now();
        const mine = ++generation;
        void device.queue.onSubmittedWorkDone().then(
          () => {
            if (mine === generation) finished();
          },
          () => {
            pending = false;
          },
        );
      } else if (gl) {
        if (fence) gl.deleteSync(fence);
        fence = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
        pending = fence !== null;
        since = now();
      }
    },
    dispose(): void {
      generation++;
      clear();
    },
  };
}
