import { describe, expect, it } from 'vitest';
import { NpyError, readNpy, writeNpy } from './npy.ts';

function npyWithHeader(header: string, payload: Uint8Array, major = 1): Uint8Array {
  const lenBytes = major === 1 ? 2 : 4;
  const pad = (64 - ((8 + lenBytes + header.length + 1) % 64)) % 64;
  const h = header + ' '.repeat(pad) + '\n';
  const out = new Uint8Array(8 + lenBytes + h.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, h.length, true);
  else view.setUint32(8, h.length, true);
  for (let i = 0; i < h.length; i++) out[8 + lenBytes + i] = h.charCodeAt(i);
  out.set(payload, 8 + lenBytes + h.length);
  return out;
}

describe('npy', () => {
  it('round-trips shape and float32 data; the data starts at a multiple of 64 bytes', () => {
    const data = new Float32Array([1.5, -2, 3.25, 0, 1e-8, 7]);
    const bytes = writeNpy(data, [2, 1, 3]);
    expect((bytes.length - data.length * 4) % 64).toBe(0);
    const back = readNpy(bytes);
    expect(back.shape).toEqual([2, 1, 3]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
    expect(readNpy(writeNpy(new Float32Array([4]), [1])).shape).toEqual([1]);
  });

  it('reads version 2.0 headers and big-endian float32', () => {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setFloat32(0, 2.5, false);
    new DataView(payload.buffer).setFloat32(4, -1, false);
    const a = readNpy(npyWithHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", payload, 2));
    expect(Array.from(a.data)).toEqual([2.5, -1]);
  });

  it('bad magic → a clear error', () => {
    expect(() => readNpy(new TextEncoder().encode('PK\x03\x04 this is a zip'), 'q.npy')).toThrow(NpyError);
    expect(() => readNpy(new TextEncoder().encode('PK\x03\x04 this is a zip'), 'q.npy')).toThrow(/q\.npy is not a NumPy \.npy file/);
  });

  it('wrong dtype → names the dtype and how to convert', () => {
    const f8 = npyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16));
    expect(() => readNpy(f8, 'k.npy')).toThrow(/k\.npy holds float64 \('<f8'\) data; float32 \('<f4'\) is required.*astype/);
    const i4 = npyWithHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(8));
    expect(() => readNpy(i4)).toThrow(/int32/);
  });

  it('truncation → says how many bytes were expected', () => {
    const good = writeNpy(new Float32Array(12), [3, 4]);
    expect(() => readNpy(good.subarray(0, good.length - 5), 'v.npy')).toThrow(/v\.npy is truncated: shape \(3, 4\) needs 48 bytes/);
    expect(() => readNpy(good.subarray(0, 20), 'v.npy')).toThrow(/truncated/);
  });

  it('Fortran order, malformed headers and trailing data are refused', () => {
    expect(() => readNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", new Uint8Array(4)))).toThrow(/Fortran/);
    expect(() => readNpy(npyWithHeader("{'descr': '<f4'}", new Uint8Array(4)))).toThrow(/malformed/);
    expect(() => readNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)))).toThrow(/unexpected data/);
  });

  it('writeNpy refuses a shape that does not match the data', () => {
    expect(() => writeNpy(new Float32Array(5), [2, 3])).toThrow(/6 elements but the data has 5/);
  });
});
