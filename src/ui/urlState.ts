// The page's whole state in the URL: Params (through params.ts's codec) plus view state
// (step, embed, theme, autoplay, loop, panel). Pure: no DOM, so it is unit-tested in node.
// Readable keys, e.g. `#strategy=ring&seq=128K&ranks=8&step=3`. The query string is read too
// (`?embed` works), and the hash wins where both name a key.

import { fieldIssue, formatTokenCount, MAX_VALUE_LENGTH, PARAM_KEYS, parseParams, serializeParams, type ParamIssue, type Params } from '../model/params.ts';

export const THEMES = ['dark', 'light', 'transparent'] as const;
export type Theme = (typeof THEMES)[number];

export interface ViewState {
  /** Playback step shown (0-based); clamped to the schedule's step count once it is known. */
  step: number;
  /** Chrome-free view for an iframe. */
  embed: boolean;
  theme: Theme;
  autoplay: boolean;
  loop: boolean;
  /** In embed mode: show a collapsed controls panel. */
  panel: boolean;
  /** Presentation mode on a full page (embed implies it): large type, one-line captions. */
  present: boolean;
  /** Text colour for theme=transparent: the slide's ink ('auto': light text, as on a dark slide). */
  ink: Ink;
}

export const INKS = ['auto', 'dark', 'light'] as const;
export type Ink = (typeof INKS)[number];

export const DEFAULT_VIEW: Readonly<ViewState> = Object.freeze({
  step: 0,
  embed: false,
  theme: 'dark',
  autoplay: false,
  loop: true,
  panel: false,
  present: false,
  ink: 'auto',
});

export const VIEW_KEYS = ['step', 'embed', 'theme', 'autoplay', 'loop', 'panel', 'present', 'ink'] as const;

/** Upper bound for a step in the URL before the schedule is known (steps are per block, so small). */
export const MAX_URL_STEP = 100_000;

export interface UrlState {
  params: Params;
  view: ViewState;
  issues: ParamIssue[];
}

/** Every key the URL state reads; others are ignored (and not kept, however many a link carries). */
const URL_KEYS: ReadonlySet<string> = new Set<string>([...PARAM_KEYS, ...VIEW_KEYS]);

/**
 * Query, then hash: one set of key/value pairs, the hash's value winning for a key both name. For a
 * key repeated within one part, its first value counts (as URLSearchParams.get). One pass over the
 * pairs: a hostile link with 100,000 distinct keys costs linear time, not one scan per key.
 */
export function mergeLocation(search: string, hash: string): URLSearchParams {
  const values = new Map<string, string>();
  for (const part of [hash.startsWith('#') ? hash.slice(1) : hash, search.startsWith('?') ? search.slice(1) : search]) {
    for (const [key, value] of new URLSearchParams(part)) if (URL_KEYS.has(key) && !values.has(key)) values.set(key, value);
  }
  return new URLSearchParams([...values]);
}

/** A view field's value, or an issue naming the field when it is too long to be a real value. */
function capped(key: string, raw: string, fallback: unknown, issues: ParamIssue[]): string | undefined {
  if (raw.length <= MAX_VALUE_LENGTH) return raw;
  issues.push(fieldIssue(key, `${key} is ${raw.length} characters long; at most ${MAX_VALUE_LENGTH} are accepted`, fallback));
  return undefined;
}

function parseBool(key: string, raw: string, fallback: boolean, issues: ParamIssue[]): boolean {
  const text = capped(key, raw, fallback ? 1 : 0, issues);
  if (text === undefined) return fallback;
  const s = text.trim().toLowerCase();
  if (s === '' || s === '1' || s === 'true' || s === 'on' || s === 'yes') return true;
  if (s === '0' || s === 'false' || s === 'off' || s === 'no') return false;
  issues.push(fieldIssue(key, `${key} must be 0 or 1; got "${text.slice(0, 40)}"`, fallback ? 1 : 0));
  return fallback;
}

export function parseView(query: URLSearchParams): { view: ViewState; issues: ParamIssue[] } {
  const issues: ParamIssue[] = [];
  const view: ViewState = { ...DEFAULT_VIEW };
  const stepRaw = query.get('step');
  const step = stepRaw === null ? undefined : capped('step', stepRaw, 0, issues);
  if (step !== undefined) {
    const n = Number(step.trim());
    // 1-based in the URL, like the on-screen counter ("step=3" shows "3 / 8"); 0-based inside.
    if (step.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_URL_STEP) {
      issues.push(fieldIssue('step', `step must be an integer from 1 to the schedule's step count; got "${step.slice(0, 40)}"`, 1));
    } else view.step = n - 1;
  }
  const themeRaw = query.get('theme');
  const theme = themeRaw === null ? undefined : capped('theme', themeRaw, DEFAULT_VIEW.theme, issues);
  if (theme !== undefined) {
    const t = theme.trim().toLowerCase();
    const hit = THEMES.find((x) => x === t);
    if (hit) view.theme = hit;
    else issues.push(fieldIssue('theme', `theme must be one of ${THEMES.join(', ')}; got "${theme.slice(0, 40)}"`, DEFAULT_VIEW.theme));
  }
  const inkRaw = query.get('ink');
  const ink = inkRaw === null ? undefined : capped('ink', inkRaw, DEFAULT_VIEW.ink, issues);
  if (ink !== undefined) {
    const hit = INKS.find((x) => x === ink.trim().toLowerCase());
    if (hit) view.ink = hit;
    else issues.push(fieldIssue('ink', `ink must be one of ${INKS.join(', ')}; got "${ink.slice(0, 40)}"`, DEFAULT_VIEW.ink));
  }
  for (const key of ['embed', 'autoplay', 'loop', 'panel', 'present'] as const) {
    const raw = query.get(key);
    if (raw !== null) view[key] = parseBool(key, raw, DEFAULT_VIEW[key], issues);
  }
  return { view, issues };
}

/** Reads the whole state from a location's search and hash. Never throws. */
export function parseUrlState(search: string, hash: string): UrlState {
  const query = mergeLocation(search, hash);
  const { params, issues } = parseParams(query);
  const view = parseView(query);
  return { params, view: view.view, issues: [...issues, ...view.issues] };
}

/**
 * The hash text (without '#') for params + view. Strategy, sequence length and ranks always
 * come first, so that a shared link reads as what it shows; other fields only when they differ
 * from their defaults (or the model preset's values). `omit` leaves out keys that the query
 * string already carries (e.g. `embed` for an iframe src of `?embed=1#…`).
 */
export function serializeUrlState(params: Params, view: ViewState, omit: readonly string[] = []): string {
  const out = new URLSearchParams();
  out.set('strategy', params.strategy);
  out.set('seq', formatTokenCount(params.seq));
  out.set('ranks', String(params.ranks));
  const rest = new URLSearchParams(serializeParams(params));
  for (const [key, value] of rest) if (!out.has(key)) out.set(key, value);
  if (view.step !== DEFAULT_VIEW.step) out.set('step', String(view.step + 1));
  if (view.embed) out.set('embed', '1');
  if (view.theme !== DEFAULT_VIEW.theme) out.set('theme', view.theme);
  if (view.autoplay) out.set('autoplay', '1');
  if (view.loop !== DEFAULT_VIEW.loop) out.set('loop', view.loop ? '1' : '0');
  if (view.panel) out.set('panel', '1');
  if (view.present) out.set('present', '1');
  if (view.ink !== DEFAULT_VIEW.ink) out.set('ink', view.ink);
  for (const key of omit) out.delete(key);
  // URLSearchParams encodes ',' and '/' which never occur in our values; keep the text readable.
  return out.toString();
}

/** Clamps a step from the URL to a schedule's step count; returns an issue when it had to. */
export function clampStep(step: number, stepCount: number): { step: number; issue?: ParamIssue } {
  const last = Math.max(0, stepCount - 1);
  if (step <= last) return { step };
  return { step: last, issue: fieldIssue('step', `step must be from 1 to ${last + 1} for this schedule; got ${step + 1}`, last + 1) };
}
