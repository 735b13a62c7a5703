// A minimal ONNX ModelProto writer (protobuf wire format, hand-encoded; field numbers from
// onnx/onnx.proto) for one com.microsoft GroupQueryAttention node: the causal attention op that
// ONNX Runtime Web's WebGPU execution provider runs (its flash-attention path on capable adapters).
// Only what the benchmark needs: float/int32 tensors, int attributes, symbolic or fixed dimensions.

type Field = Uint8Array;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const concat = (parts: readonly (Uint8Array | number[])[]): Uint8Array => {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** Varint field (wire type 0). */
const int = (field: number, value: number): Field => Uint8Array.from([...varint((field << 3) | 0), ...varint(value)]);
/** Length-delimited field (wire type 2): bytes, strings, nested messages. */
const bytes = (field: number, payload: Uint8Array): Field => concat([varint((field << 3) | 2), varint(payload.length), payload]);
const str = (field: number, s: string): Field => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, ...parts: Field[]): Field => bytes(field, concat(parts));

export const ELEM_FLOAT = 1;
export const ELEM_INT32 = 6;

/** ValueInfoProto payload: name, TypeProto.tensor_type { elem_type, shape { dim { dim_value | dim_param } } }. */
function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): Uint8Array {
  const dimFields = dims.map((d) => msg(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return concat([str(1, name), msg(2, msg(1, int(1, elemType), msg(2, ...dimFields)))]);
}

export interface GqaModelSpec {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Sequence dimension: a number, or a symbolic name (one session serves every length). */
  readonly seq: number | string;
}

/**
 * GroupQueryAttention (com.microsoft, opset 1) in prefill form: query [1, S, heads·d], key/value
 * [1, S, kvHeads·d], no past K/V, seqlens_k [1] = S − 1, total_sequence_length (scalar) = S.
 * Causal by definition; scale defaults to 1/sqrt(d).
 */
export function gqaModel(spec: GqaModelSpec): Uint8Array {
  const { heads, kvHeads, headDim, seq } = spec;
  const node = msg(
    1,
    ...['query', 'key', 'value', '', '', 'seqlens_k', 'total_sequence_length'].map((n) => str(1, n)),
    ...['output', 'present_key', 'present_value'].map((n) => str(2, n)),
    str(3, 'attention'),
    str(4, 'GroupQueryAttention'),
    msg(5, str(1, 'num_heads'), int(3, heads), int(20, 2 /* INT */)),
    msg(5, str(1, 'kv_num_heads'), int(3, kvHeads), int(20, 2)),
    str(7, 'com.microsoft'),
  );
  const inputs = [
    valueInfo('query', ELEM_FLOAT, [1, seq, heads * headDim]),
    valueInfo('key', ELEM_FLOAT, [1, seq, kvHeads * headDim]),
    valueInfo('value', ELEM_FLOAT, [1, seq, kvHeads * headDim]),
    valueInfo('seqlens_k', ELEM_INT32, [1]),
    valueInfo('total_sequence_length', ELEM_INT32, []),
  ].map((v) => bytes(11, v));
  const outputs = [
    valueInfo('output', ELEM_FLOAT, [1, seq, heads * headDim]),
    valueInfo('present_key', ELEM_FLOAT, [1, kvHeads, seq, headDim]),
    valueInfo('present_value', ELEM_FLOAT, [1, kvHeads, seq, headDim]),
  ].map((v) => bytes(12, v));
  const graph = msg(7, node, str(2, 'shardscope_gqa'), ...inputs, ...outputs);
  return concat([int(1, 8 /* ir_version */), str(2, 'shardscope-bench'), graph, msg(8, str(1, ''), int(2, 17)), msg(8, str(1, 'com.microsoft'), int(2, 1))]);
}
