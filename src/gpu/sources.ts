// The WGSL sources the GPU classes compile. They are passed in, never imported here, so that the same
// classes run in the browser and vitest (`?raw` imports, src/gpu/shaders.ts) and in node under tsx,
// which has no `?raw` (src/gpu/shaders.node.ts reads the files with fs).

export interface ShaderSources {
  /** shaders/block_attention.wgsl: one rank's Q block × K/V block, online softmax, global causal mask. */
  readonly blockAttention: string;
  /** shaders/finalise.wgsl: O = acc / l, lse = m + log l. */
  readonly finalise: string;
  /** shaders/naive_attention.wgsl: one thread per query, the benchmark baseline. */
  readonly naiveAttention: string;
}

export const SHADER_FILES: { readonly [K in keyof ShaderSources]: string } = {
  blockAttention: 'block_attention.wgsl',
  finalise: 'finalise.wgsl',
  naiveAttention: 'naive_attention.wgsl',
};
