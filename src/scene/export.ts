// Export: one frame of the scene as a canvas at any scale, with the overlay's text painted in
// (the DOM labels are not part of the WebGL/WebGPU canvas).

import type { OrthographicCamera, Scene } from 'three';
import type { WebGPURenderer } from 'three/webgpu';
import type { SceneContext } from './context.ts';

export async function captureFrame(ctx: SceneContext, renderer: WebGPURenderer, scene: Scene, camera: OrthographicCamera, canvas: HTMLCanvasElement, size: { width: number; height: number }, scale: number): Promise<HTMLCanvasElement> {
  const { width, height } = size;
  const k = Math.max(0.25, Math.min(4, scale));
  const out = document.createElement('canvas');
  out.width = Math.round(width * k);
  out.height = Math.round(height * k);
  const c2 = out.getContext('2d');
  if (!c2) throw new Error('captureFrame: no 2D context');
  const before = renderer.getPixelRatio();
  renderer.setPixelRatio(k);
  renderer.setSize(width, height, false);
  if (ctx.theme !== 'transparent') {
    c2.fillStyle = `rgb(${ctx.palette.clear.map((v) => Math.round(v * 255)).join(',')})`;
    c2.fillRect(0, 0, out.width, out.height);
  }
  // Render and copy in the same task: a WebGPU canvas reads as zeros once it has been presented.
  renderer.render(scene, camera);
  c2.drawImage(canvas, 0, 0, out.width, out.height);
  renderer.setPixelRatio(before);
  renderer.setSize(width, height, false);
  renderer.render(scene, camera);
  // Text: the DOM labels, the title and the caption.
  const dom = ctx.dom;
  c2.scale(k, k);
  c2.textBaseline = 'top';
  const ink = getComputedStyle(dom.root).color || (ctx.theme === 'light' ? '#1a1d24' : '#e6e8ee');
  const scaleText = Number.parseFloat(getComputedStyle(dom.root).getPropertyValue('--ss-k')) || 1;
  for (const l of dom.labelData) {
    c2.font = `${l.bold ? '600 ' : ''}${(l.size ?? 12) * scaleText}px system-ui, sans-serif`;
    c2.fillStyle = l.color ?? ink;
    c2.textAlign = l.align === 'r' ? 'right' : l.align === 'c' ? 'center' : 'left';
    c2.fillText(l.text, l.x, l.y + 1);
  }
  c2.textAlign = 'left';
  c2.font = `600 ${15 * scaleText}px system-ui, sans-serif`;
  c2.fillStyle = ink;
  c2.fillText(`${dom.title.textContent ?? ''}${dom.subtitle.textContent ?? ''}`, 10, 8);
  c2.font = `${13 * scaleText}px system-ui, sans-serif`;
  c2.fillText(`${dom.badge.textContent ?? ''} — ${dom.caption.textContent ?? ''}`.slice(0, 220), 10, ctx.layout.footer.y + 8, width - 20);
  return out;
}
