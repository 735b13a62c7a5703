// `?raw` imports of the WGSL in ../../shaders (browser bundle and vitest). Node under tsx cannot use
// `?raw`: the CLI and the benchmark use loadShaderSources() from ./shaders.node.ts instead.
import blockAttention from '../../shaders/block_attention.wgsl?raw';
import finalise from '../../shaders/finalise.wgsl?raw';
import naiveAttention from '../../shaders/naive_attention.wgsl?raw';
import attentionBackward from '../../shaders/attention_backward.wgsl?raw';
import backwardPreprocess from '../../shaders/backward_preprocess.wgsl?raw';
import backwardAdd from '../../shaders/backward_add.wgsl?raw';
import naiveBackward from '../../shaders/naive_backward.wgsl?raw';
import type { ShaderSources } from './sources.ts';

export const SHADER_SOURCES: ShaderSources = { blockAttention, finalise, naiveAttention, attentionBackward, backwardPreprocess, backwardAdd, naiveBackward };
