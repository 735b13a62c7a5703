// Node-only (CLI, benchmark): reads the WGSL sources from ../../shaders with fs. Never imported by the page.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SHADER_FILES, type ShaderSources } from './sources.ts';

export function loadShaderSources(): ShaderSources {
  const read = (file: string): string => readFileSync(fileURLToPath(new URL(`../../shaders/${file}`, import.meta.url)), 'utf8');
  const out: Record<string, string> = {};
  for (const [key, file] of Object.entries(SHADER_FILES)) out[key] = read(file);
  return out as unknown as ShaderSources;
}
