// PNG decoding for the e2e specs (Node only): pngjs, plus a distinct-colour count for the
// "the canvas is not blank" checks and pixel reads for the transparent-theme test.

import { PNG } from 'pngjs';

export interface Image {
  readonly width: number;
  readonly height: number;
  /** RGBA, 4 bytes per pixel. */
  readonly data: Uint8Array;
}

export function decodePng(png: Uint8Array): Image {
  const img = PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  return { width: img.width, height: img.height, data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength) };
}

/** Distinct colours after quantising each channel to 5 bits, counting only colours covering ≥ minPixels. */
export function distinctColours(image: Image, minPixels = 20): number {
  const counts = new Map<number, number>();
  const d = image.data;
  for (let i = 0; i < d.length; i += 4) {
    const key = (((d[i] ?? 0) >> 3) << 10) | (((d[i + 1] ?? 0) >> 3) << 5) | ((d[i + 2] ?? 0) >> 3);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let n = 0;
  for (const c of counts.values()) if (c >= minPixels) n++;
  return n;
}

/** RGBA of pixel (x, y). */
export function pixel(image: Image, x: number, y: number): [number, number, number, number] {
  const o = (Math.round(y) * image.width + Math.round(x)) * 4;
  const d = image.data;
  return [d[o] ?? 0, d[o + 1] ?? 0, d[o + 2] ?? 0, d[o + 3] ?? 0];
}
