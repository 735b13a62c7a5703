import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodePng, distinctColours } from './png.ts';

function crcless(type: string, body: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + body.length);
  b.writeUInt32BE(body.length, 0);
  b.write(type, 4, 'ascii');
  Buffer.from(body).copy(b, 8);
  return b; // the decoder does not check CRCs
}

describe('png decoder', () => {
  it('decodes an RGB image with Sub and Up filters and counts its colours', () => {
    const w = 4;
    const h = 2;
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0);
    ihdr.writeUInt32BE(h, 4);
    ihdr[8] = 8;
    ihdr[9] = 2;
    // Row 0, filter 1 (Sub): deltas to the left pixel; row 1, filter 2 (Up): zero deltas, a copy of row 0.
    const raw = Buffer.from([1, 255, 0, 0, 0, 10, 0, 0, 0, 10, 1, 0, 0, 2, ...new Array(12).fill(0)]);
    const png = Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), crcless('IHDR', ihdr), crcless('IDAT', deflateSync(raw)), crcless('IEND', new Uint8Array())]);
    const img = decodePng(png);
    expect(img.width).toBe(4);
    expect(Array.from(img.data.slice(0, 16))).toEqual([255, 0, 0, 255, 255, 10, 0, 255, 255, 10, 10, 255, 0, 10, 10, 255]);
    expect(Array.from(img.data.slice(16, 32))).toEqual(Array.from(img.data.slice(0, 16)));
    expect(distinctColours(img, 1)).toBeGreaterThanOrEqual(2);
  });
});
