// Colours for the readouts: the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"),
// chosen to stay distinguishable under the common colour-vision deficiencies. Categories are
// also told apart by order and label (legend, table), never by colour alone.

import type { MemoryCategories } from '../model/plan.ts';
import type { Theme } from './urlState.ts';

export const OKABE_ITO = {
  orange: '#E69F00',
  sky: '#56B4E9',
  green: '#009E73',
  yellow: '#F0E442',
  blue: '#0072B2',
  vermillion: '#D55E00',
  purple: '#CC79A7',
} as const;

export type MemoryCategory = keyof MemoryCategories;

export const CATEGORY_ORDER: readonly MemoryCategory[] = ['weights', 'grads', 'optimizer', 'activations', 'kvWorkingSet', 'scores', 'logits'];

export const CATEGORY_LABEL: Record<MemoryCategory, string> = {
  weights: 'weights',
  grads: 'grads',
  optimizer: 'optimizer',
  activations: 'activations',
  kvWorkingSet: 'K/V working set',
  scores: 'scores',
  logits: 'logits',
};

export const CATEGORY_COLOR: Record<MemoryCategory, string> = {
  weights: OKABE_ITO.blue,
  grads: OKABE_ITO.sky,
  optimizer: OKABE_ITO.purple,
  activations: OKABE_ITO.green,
  kvWorkingSet: OKABE_ITO.orange,
  scores: OKABE_ITO.vermillion,
  logits: OKABE_ITO.yellow,
};

export const TIMELINE_COLOR = {
  compute: OKABE_ITO.sky,
  comm: OKABE_ITO.orange,
  exposed: OKABE_ITO.vermillion,
} as const;

export interface ChartStyle {
  readonly fg: string;
  readonly muted: string;
  readonly grid: string;
  /** Background for text plates drawn over the scene (PNG export). */
  readonly plate: string;
  readonly warn: string;
  readonly ghost: string;
  readonly font: string;
}

const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

export function chartStyle(theme: Theme): ChartStyle {
  if (theme === 'light') {
    return { fg: '#1b1f27', muted: '#4a5261', grid: 'rgba(27,31,39,0.16)', plate: 'rgba(255,255,255,0.92)', warn: '#9a3412', ghost: 'rgba(27,31,39,0.55)', font: FONT };
  }
  return { fg: '#e6e8ee', muted: '#a9b1bf', grid: 'rgba(230,232,238,0.16)', plate: 'rgba(15,17,23,0.88)', warn: '#ffb86b', ghost: 'rgba(230,232,238,0.6)', font: FONT };
}
