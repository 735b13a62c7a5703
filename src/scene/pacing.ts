// Frame pacing: draw a new frame only once the GPU has finished the last one.
//
// On a software adapter (SwiftShader) one frame of a 64-rank scene takes 100–400 ms of GPU time.
// Frames submitted faster than that queue up in the browser's GPU process, and the page's own
// frames (its text, controls and readouts) wait behind them: a slider drag then stalls the whole
// page for seconds. So the scene asks `ready` before drawing. While the GPU is still busy the
// canvas keeps its last image and the frame stays dirty; it is drawn at the first frame after.
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

export function createFramePacer(backend: Backend, now: () => number = () => performance.now()): FramePacer {
  const device = backend.isWebGPUBackend ? backend.device ?? null : null;
  const gl = backend.isWebGPUBackend ? null : backend.gl ?? null;
  let pending = false;
  let since = 0;
  let fence: WebGLSync | null = null;
  let generation = 0;

  const clear = (): void => {
    pending = false;
    if (fence && gl) gl.deleteSync(fence);
    fence = null;
  };

  return {
    get ready(): boolean {
      if (!pending) return true;
      if (now() - since > MAX_WAIT_MS) {
        clear();
        return true;
      }
      // A WebGL fence's status changes between tasks only (WebGL 2 §5.27), so this is polled once per frame.
      if (fence && gl && gl.getSyncParameter(fence, gl.SYNC_STATUS) === gl.SIGNALED) clear();
      return !pending;
    },
    submitted(): void {
      if (device) {
        pending = true;
        since = now();
        const mine = ++generation;
        void device.queue.onSubmittedWorkDone().then(
          () => {
            if (mine === generation) pending = false;
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
