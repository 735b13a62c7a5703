// "Your model": paste, pick or drop a Hugging Face config.json; the seven shape fields (and the
// preset name, "custom" unless the shape is a preset's) change, nothing else. A config that
// cannot be read leaves the params exactly as they were and says which fields are the problem.

import type { Params } from '../model/params.ts';
import { applyHfShape, MAX_CONFIG_CHARS, parseHfConfig, type ShapeKey } from '../model/hfConfig.ts';
import { parameterCounts } from '../model/memory.ts';
import type { Messages } from '../app/messages.ts';
import { el } from './dom.ts';

export interface ConfigImportOptions {
  readonly getParams: () => Readonly<Params>;
  readonly setParams: (change: Partial<Params>) => void;
  readonly messages: Messages;
}

const SHAPE: readonly ShapeKey[] = ['layers', 'hidden', 'heads', 'kvHeads', 'headDim', 'ffnHidden', 'vocab'];

/** Applies config.json text; returns whether the params changed shape. */
export function importConfigText(text: string, source: string, options: ConfigImportOptions): boolean {
  const r = parseHfConfig(text);
  if (!r.ok) {
    options.messages.show('hf-config', 'error', `Could not use ${source}: ${r.errors.join(' ')} The model is unchanged.`);
    return false;
  }
  const next = applyHfShape({ ...options.getParams() } as Params, r.shape);
  const change: Partial<Params> = { model: next.model };
  for (const k of SHAPE) (change as Record<string, unknown>)[k] = next[k];
  options.setParams(change);
  const s = r.shape;
  const billions = (parameterCounts(s).total / 1e9).toFixed(2);
  options.messages.show(
    'hf-config',
    'info',
    `Model from ${source}${r.name ? ` (${r.name})` : ''}: ${s.layers} layers, hidden ${s.hidden}, ${s.heads} heads / ${s.kvHeads} K/V × ${s.headDim}, FFN ${s.ffnHidden}, vocab ${s.vocab} — ${billions}B parameters${next.model !== 'custom' ? ` (the ${next.model} preset)` : ''}.` +
      (r.notes.length ? ` Note: ${r.notes.join(' ')}` : ''),
  );
  return true;
}

async function importFile(file: File, options: ConfigImportOptions): Promise<void> {
  if (file.size > MAX_CONFIG_CHARS) {
    options.messages.show('hf-config', 'error', `Could not use ${file.name}: it is ${Math.round(file.size / 1024)} KB, a config.json is a few KB. The model is unchanged.`);
    return;
  }
  importConfigText(await file.text(), file.name, options);
}

/** The widget for the panel's Model folder; also accepts a config.json dropped anywhere on the page. */
export function createConfigImport(options: ConfigImportOptions): HTMLElement {
  const area = el('textarea', {
    id: 'ui-hf-config',
    class: 'ui-hf-config',
    rows: '3',
    spellcheck: 'false',
    placeholder: 'Paste or drop a Hugging Face config.json',
    'aria-label': 'Hugging Face config.json text',
  });
  const apply = el('button', { type: 'button', id: 'ui-hf-apply' }, 'Use config');
  const file = el('input', { type: 'file', id: 'ui-hf-file', accept: '.json,application/json', class: 'sr-only', tabindex: '-1' });
  const pick = el('button', { type: 'button', id: 'ui-hf-pick' }, 'Open file…');
  apply.addEventListener('click', () => {
    if (area.value.trim() === '') {
      options.messages.show('hf-config', 'warning', 'Paste the text of a config.json first (or open / drop the file).');
      return;
    }
    if (importConfigText(area.value, 'the pasted config.json', options)) area.value = '';
  });
  pick.addEventListener('click', () => file.click());
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f) void importFile(f, options);
    file.value = '';
  });
  const isFileDrag = (e: DragEvent): boolean => [...(e.dataTransfer?.types ?? [])].includes('Files');
  document.addEventListener('dragover', (e) => {
    if (isFileDrag(e)) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    if (!isFileDrag(e)) return;
    e.preventDefault();
    const f = e.dataTransfer?.files[0];
    if (f) void importFile(f, options);
  });
  const root = el(
    'div',
    { class: 'ui-hf', id: 'ui-hf' },
    el('div', { class: 'ui-hf-title' }, 'Your model (config.json)'),
    area,
    el('div', { class: 'ui-hf-buttons' }, apply, pick, file),
  );
  return root;
}
