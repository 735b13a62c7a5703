// What the app sees of the scene: the interface createScene() returns (see ./index.ts).

import type { PackedWorkMatrix } from './matrixTransport.ts';
import type { Params } from '../model/params.ts';
import type { Schedule } from '../model/schedule.ts';
import type { Theme } from './colors.ts';
import type { ScenePlan, SceneVerification } from './context.ts';

export interface PlaybackView {
  readonly position: number;
  readonly step: number;
  readonly progress: number;
}

export interface SceneInfo {
  readonly geometries: number;
  readonly textures: number;
  readonly programs?: number;
}

export interface SceneView {
  /** `matrix`: the schedule's work matrix built by the planner worker (built here when absent). */
  setSchedule(schedule: Schedule, params: Params, matrix?: PackedWorkMatrix | null): void;
  setVerification(v: SceneVerification | null): void;
  /** The plan priced for the schedule (the rank inspector reads each rank's memory per step from it). */
  setPlan(plan: ScenePlan | null): void;
  render(playback: PlaybackView): void;
  /** The CPU part of render() (instance buffers, labels), without drawing: for the bench. */
  update(playback: PlaybackView): void;
  resize(): void;
  setTheme(theme: Theme): void;
  captureFrame(scale: number): Promise<HTMLCanvasElement>;
  info(): SceneInfo;
  readonly backend: 'webgpu' | 'webgl2';
  /** Where main attaches the playback controls (see ./controls.ts). */
  readonly controlsSlot: HTMLElement;
  /** Presentation mode (embed, present=1): type grows with the frame, one-line captions, a big counter; `ink` for theme=transparent. */
  setPresentation(on: boolean, ink?: 'auto' | 'dark' | 'light'): void;
  /** Shows the per-shard label-shift bug in the loss step. */
  setLabelBug(on: boolean): void;
  /** Instances drawn in the last frame, and how many were dropped by the cap. */
  stats(): { instances: number; dropped: number; updateMs: number };
  dispose(): void;
}
