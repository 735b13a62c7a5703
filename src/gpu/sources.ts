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
  /** shaders/attention_backward.wgsl: one rank's dQ and its block's dK, dV (FlashAttention-2 backward). */
  readonly attentionBackward: string;
  /** shaders/backward_preprocess.wgsl: D = rowsum(dO ∘ O), stored with lse. */
  readonly backwardPreprocess: string;
  /** shaders/backward_add.wgsl: dst += src, the reduction of partial gradients. */
  readonly backwardAdd: string;
  /** shaders/naive_backward.wgsl: one thread per row, the backward benchmark baseline. */
  readonly naiveBackward: string;
}

export const SHADER_FILES: { readonly [K in keyof ShaderSources]: string } = {
  blockAttention: 'block_attention.wgsl',
  finalise: 'finalise.wgsl',
  naiveAttention: 'naive_attention.wgsl',
  attentionBackward: 'attention_backward.wgsl',
  backwardPreprocess: 'backward_preprocess.wgsl',
  backwardAdd: 'backward_add.wgsl',
  naiveBackward: 'naive_backward.wgsl',
};
