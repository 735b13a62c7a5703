// NumPy .npy files, float32 only: the format PyTorch and NumPy users already have
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
// Layout: magic "\x93NUMPY", version (major, minor), header length (u16 LE for 1.0, u32 LE for 2.0/3.0),
// an ASCII/UTF-8 Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ending in '\n' so that the data starts at a multiple of 64 bytes; then the
// raw array in C order. Every failure is an NpyError naming the file and what to do.

export class NpyError extends Error {
  override readonly name = 'NpyError';
}

export interface NpyArray {
  readonly shape: number[];
  /** C-order float32 data. */
  readonly data: Float32Array;
}

const MAX_HEADER_LENGTH = 10_000;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DTYPE_NAMES: Record<string, string> = {
  f8: 'float64',
  f2: 'float16',
  i8: 'int64',
  i4: 'int32',
  i2: 'int16',
  i1: 'int8',
  u1: 'uint8',
  b1: 'bool',
};

function describeDtype(descr: string): string {
  const name = DTYPE_NAMES[descr.replace(/^[<>|=]/, '')];
  return name ? `${name} ('${descr}')` : `'${descr}'`;
}

/** Parses a .npy file into float32. `name` is used in error messages. */
export function readNpy(bytes: Uint8Array, name = 'the file'): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new NpyError(`${name} is not a NumPy .npy file: it does not start with the magic bytes "\\x93NUMPY" (save arrays with numpy.save).`);
  }
  const major = bytes[6] as number;
  const minor = bytes[7] as number;
  if (major < 1 || major > 3) throw new NpyError(`${name} uses .npy format version ${major}.${minor}; versions 1.0 to 3.0 are supported.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new NpyError(`${name} is truncated inside its header.`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  // numpy refuses headers over 10,000 bytes by default too (numpy/lib/format.py, _MAX_HEADER_SIZE):
  // a real array's header is ~128 bytes, and the cap keeps the header scan short.
  if (headerLength > MAX_HEADER_LENGTH) throw new NpyError(`${name} has a ${headerLength}-byte .npy header; at most ${MAX_HEADER_LENGTH} bytes are accepted (as numpy.load).`);
  const dataStart = 8 + lengthBytes + headerLength;
  if (bytes.length < dataStart) throw new NpyError(`${name} is truncated: its header claims ${headerLength} bytes but the file ends after ${bytes.length - 8 - lengthBytes}.`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lengthBytes, dataStart));

  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`${name} has a malformed .npy header (expected 'descr', 'fortran_order' and 'shape'): ${header.trim().slice(0, 120)}`);
  }
  if (descr !== '<f4' && descr !== '>f4' && descr !== '=f4') {
    throw new NpyError(`${name} holds ${describeDtype(descr)} data; float32 ('<f4') is required. Convert with arr.astype(numpy.float32) or tensor.float().numpy().`);
  }
  if (fortran === 'True') throw new NpyError(`${name} is stored in Fortran order; save a C-ordered array (numpy.ascontiguousarray(arr)).`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(n) || n < 0) throw new NpyError(`${name} has an invalid shape (${shapeText}).`);
      return n;
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = count * 4;
  const actual = bytes.length - dataStart;
  if (actual < expected) {
    throw new NpyError(`${name} is truncated: shape (${shape.join(', ')}) needs ${expected} bytes of float32 data but only ${actual} follow the header.`);
  }
  if (actual > expected) {
    throw new NpyError(`${name} has ${actual - expected} bytes of unexpected data after the (${shape.join(', ')}) float32 array.`);
  }
  const data = new Float32Array(count);
  const little = descr !== '>f4';
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(dataStart + i * 4, little);
  return { shape, data };
}

/** Serialises a C-order float32 array as .npy version 1.0. */
export function writeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new NpyError(`writeNpy: shape (${shape.join(', ')}) has ${count} elements but the data has ${data.length}.`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const view = new DataView(out.buffer);
  const at = 10 + header.length;
  for (let i = 0; i < data.length; i++) view.setFloat32(at + i * 4, data[i] as number, true);
  return out;
}

/** The C-order index of a flat position, e.g. 37 in (2, 24, 8) -> [0, 4, 5]. */
export function unravelIndex(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d] as number;
    index[d] = n > 0 ? rest % n : 0;
    rest = n > 0 ? Math.floor(rest / n) : 0;
  }
  return index;
}

/** Refuses an array holding NaN or ±Infinity, naming the file, the first bad value and its index. */
export function assertFinite(array: NpyArray, name = 'the file'): void {
  const { data, shape } = array;
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    if (Number.isFinite(x)) continue;
    let count = 0;
    for (let j = i; j < data.length; j++) if (!Number.isFinite(data[j] as number)) count++;
    throw new NpyError(
      `${name} holds ${count} non-finite value${count === 1 ? '' : 's'}; the first is ${String(x)} at index [${unravelIndex(i, shape).join(', ')}] (flat ${i}). Inputs must be finite float32.`,
    );
  }
}
