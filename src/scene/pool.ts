// Instance pools: one InstancedMesh per shape, fixed capacity, reused across schedules. A part of
// the scene pushes boxes (stage px, y down); the frame flushes what changed to the GPU.

import { BufferGeometry, DoubleSide, DynamicDrawUsage, Float32BufferAttribute, InstancedBufferAttribute, InstancedMesh, MeshBasicMaterial } from 'three';
import type { Rgb } from './colors.ts';

const SLANT = 0.22;

export function slantGeometry(): BufferGeometry {
  const g = new BufferGeometry();
  g.setAttribute('position', new Float32BufferAttribute([-0.5, -0.5, 0, 0.5 - SLANT, -0.5, 0, 0.5, 0.5, 0, -0.5 + SLANT, 0.5, 0], 3));
  g.setIndex([0, 1, 2, 0, 2, 3]);
  return g;
}

export function diamondGeometry(): BufferGeometry {
  const g = new BufferGeometry();
  g.setAttribute('position', new Float32BufferAttribute([0, -0.5, 0, 0.5, 0, 0, 0, 0.5, 0, -0.5, 0, 0], 3));
  g.setIndex([0, 1, 2, 0, 2, 3]);
  return g;
}

export class Pool {
  readonly mesh: InstancedMesh;
  readonly matrices: Float32Array;
  readonly colors: Float32Array;
  readonly colorAttr: InstancedBufferAttribute;
  count = 0;
  dropped = 0;
  dirty = true;

  constructor(
    geometry: BufferGeometry,
    readonly capacity: number,
    order: number,
  ) {
    const material = new MeshBasicMaterial({ color: 0xffffff, side: DoubleSide, depthTest: false, depthWrite: false });
    this.mesh = new InstancedMesh(geometry, material, capacity);
    this.mesh.frustumCulled = false;
    this.mesh.renderOrder = order;
    this.mesh.instanceMatrix.setUsage(DynamicDrawUsage);
    this.matrices = this.mesh.instanceMatrix.array as Float32Array;
    this.colors = new Float32Array(capacity * 3);
    this.colorAttr = new InstancedBufferAttribute(this.colors, 3);
    this.colorAttr.setUsage(DynamicDrawUsage);
    this.mesh.instanceColor = this.colorAttr;
    this.mesh.count = 0;
  }

  reset(): void {
    this.count = 0;
    this.dropped = 0;
    this.dirty = true;
  }

  /** A box of w×h px whose top-left corner is (x, y) in stage px (y down). */
  push(x: number, y: number, w: number, h: number, c: Rgb): void {
    if (w <= 0 || h <= 0) return;
    if (this.count >= this.capacity) {
      this.dropped++;
      return;
    }
    const i = this.count++;
    this.setRect(i, x, y, w, h);
    this.setColor(i, c[0], c[1], c[2]);
  }

  /** Rewrites instance i's box in place (a fixed slot; see the matrix cells). */
  setRect(i: number, x: number, y: number, w: number, h: number): void {
    const m = this.matrices;
    const o = i * 16;
    m[o] = w;
    m[o + 1] = 0;
    m[o + 2] = 0;
    m[o + 3] = 0;
    m[o + 4] = 0;
    m[o + 5] = h;
    m[o + 6] = 0;
    m[o + 7] = 0;
    m[o + 8] = 0;
    m[o + 9] = 0;
    m[o + 10] = 1;
    m[o + 11] = 0;
    m[o + 12] = x + w / 2;
    m[o + 13] = -(y + h / 2);
    m[o + 14] = 0;
    m[o + 15] = 1;
    this.dirty = true;
  }

  setColor(i: number, r: number, g: number, b: number): void {
    const k = i * 3;
    this.colors[k] = r;
    this.colors[k + 1] = g;
    this.colors[k + 2] = b;
    this.dirty = true;
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.mesh.count = this.count;
    const im = this.mesh.instanceMatrix;
    im.clearUpdateRanges();
    im.addUpdateRange(0, Math.max(1, this.count) * 16);
    im.needsUpdate = true;
    this.colorAttr.clearUpdateRanges();
    this.colorAttr.addUpdateRange(0, Math.max(1, this.count) * 3);
    this.colorAttr.needsUpdate = true;
  }

  dispose(): void {
    this.mesh.geometry.dispose();
    (this.mesh.material as MeshBasicMaterial).dispose();
    this.mesh.dispose();
  }
}
