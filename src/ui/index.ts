// The UI: the lil-gui panel, the readouts, the URL state, embed mode, sharing and the
// first-visit hint. main.ts calls readUrlState() before creating the Store and createUi() after.

import type { Store } from '../app/store.ts';
import type { Playback } from '../app/playback.ts';
import type { Messages } from '../app/messages.ts';
import { exposeField } from '../app/expose.ts';
import type { Schedule } from '../model/schedule.ts';
import { memoryAtStep } from '../model/pricedCodec.ts';
import type { ParamIssue, Params } from '../model/params.ts';
import { clampStep, DEFAULT_VIEW, parseUrlState, serializeUrlState, type Theme, type UrlState, type ViewState } from './urlState.ts';
import { Panel } from './panel.ts';
import { UrlOwner } from './urlSync.ts';
import { Readouts, type VerificationView } from './readouts.ts';
import { composePng, describeState, downloadCanvas, embedSnippet, pngFilename, type FrameSource } from './share.ts';
import { el } from './dom.ts';
import { CompareView } from './compareView.ts';

export type { Theme, ViewState } from './urlState.ts';

/** What the UI uses of the three.js scene (src/scene): all optional until it lands. */
export interface SceneHandle extends FrameSource {
  setTheme?(theme: Theme): void;
  resize?(): void;
}

interface VerificationSource {
  readonly status: VerificationView;
  subscribe(listener: (status: VerificationView) => void): () => void;
}

export interface UiOptions {
  readonly store: Store;
  readonly playback: Playback;
  readonly messages: Messages;
  /** The URL state read before the store was created (params already in the store). */
  readonly url: UrlState;
}

export interface Ui {
  readonly view: Readonly<ViewState>;
  attachScene(scene: SceneHandle): void;
  attachVerification(source: VerificationSource): void;
  /** Shows the lost-device message with a "Restart GPU" button that runs `restart`. */
  showGpuLost(text: string, restart: () => void | Promise<void>): void;
  dismissGpuLost(): void;
}

const HINT_KEY = 'shardscope.hint.dismissed';
/**
 * State → URL writes, at most one per this many ms. history.replaceState costs the page's main
 * thread 3–7 ms each in Chromium (measured during a drag; 6.5 ms in a 64-rank profile, more than
 * the rest of a change's notification), and Safari refuses more than 100 calls per 10 s.
 */
const URL_WRITE_DELAY_MS = 500;

/** Reads params + view state from the current location (query and hash). */
export function readUrlState(location: Location = window.location): UrlState {
  return parseUrlState(location.search, location.hash);
}

function stepCountOf(schedule: Schedule): number {
  return schedule.valid ? Math.max(1, schedule.steps.length) : 1;
}

function byId<T extends HTMLElement>(id: string): T | null {
  return document.getElementById(id) as T | null;
}

export function createUi(options: UiOptions): Ui {
  const { store, playback, messages } = options;
  const view: ViewState = { ...options.url.view };
  const query = new URLSearchParams(location.search);
  const embedFromQuery = query.has('embed');
  let scene: SceneHandle | null = null;
  let verificationText = '';

  // ---- Theme and embed mode -------------------------------------------------------------
  const body = document.body;
  body.classList.toggle('embed', view.embed || view.present);
  body.classList.toggle('present', view.embed || view.present);
  const applyTheme = (theme: Theme): void => {
    document.documentElement.dataset.theme = theme;
    document.documentElement.dataset.ink = view.ink;
    scene?.setTheme?.(theme);
    readouts.redraw();
    compareView?.setTheme(theme);
  };

  // ---- Messages for the URL's bad values ---------------------------------------------------
  // Recomputed from the current state: each message remembers the value its field was given, and
  // goes away when that field changes (by the panel, the keyboard or a newer URL) or when a newer
  // URL no longer has the problem.
  const shownUrlIssues = new Map<string, { text: string; value: unknown }>();
  const fieldValue = (field: string): unknown => {
    if (field === 'step') return playback.step;
    if (Object.hasOwn(view, field)) return view[field as keyof ViewState];
    return Object.hasOwn(store.state.params, field) ? store.state.params[field as keyof Params] : undefined;
  };
  const dismissUrlIssue = (field: string): void => {
    const shown = shownUrlIssues.get(field);
    shownUrlIssues.delete(field);
    // The panel reports typed values under the same key; leave its message alone.
    if (shown && messages.text(`param-${field}`) === shown.text) messages.dismiss(`param-${field}`);
  };
  const showUrlIssue = (issue: ParamIssue): void => {
    messages.show(`param-${issue.field}`, 'warning', issue.message);
    shownUrlIssues.set(issue.field, { text: messages.text(`param-${issue.field}`) ?? '', value: fieldValue(issue.field) });
  };
  /** Shows a freshly read URL's issues, replacing the previous URL's (call after applying its state). */
  const showUrlIssues = (issues: readonly ParamIssue[]): void => {
    for (const field of [...shownUrlIssues.keys()]) dismissUrlIssue(field);
    for (const issue of issues) showUrlIssue(issue);
  };
  const retireStaleUrlIssues = (): void => {
    for (const [field, shown] of [...shownUrlIssues]) if (!Object.is(fieldValue(field), shown.value)) dismissUrlIssue(field);
  };
  showUrlIssues(options.url.issues);

  // ---- Playback from the URL --------------------------------------------------------------
  playback.loop = view.loop;
  playback.setStepCount(stepCountOf(store.pricedPlan.schedule));
  /** A URL's step, kept until the plan of the URL's params arrives (its step count bounds the step). */
  let pendingSeek: number | null = null;
  const seekFromUrl = (step: number): void => {
    if (store.pricedVersion !== store.state.version) {
      pendingSeek = step;
      return;
    }
    pendingSeek = null;
    const schedule = store.pricedPlan.schedule;
    const c = clampStep(step, stepCountOf(schedule));
    playback.seek(c.step);
    if (c.issue && schedule.valid) showUrlIssue(c.issue);
  };
  seekFromUrl(view.step);

  // ---- Readouts ------------------------------------------------------------------------------
  const readoutsRoot = byId('readouts') ?? body.appendChild(el('section', { id: 'readouts' }));
  const readouts = new Readouts(readoutsRoot);
  const openLink = el('a', { id: 'ui-open-full', class: 'ui-open-full', target: '_blank', rel: 'noopener' }, 'Open in Shardscope ↗');
  if (view.embed) readoutsRoot.append(openLink);
  // The newest plan (the planner worker answers a frame or two after a change; app/store.ts).
  const renderReadouts = (): void => readouts.update({ plan: store.pricedPlan, step: playback.step, theme: view.theme });

  // ---- URL sync: urlSync.ts owns the hash ------------------------------------------------------
  const currentHash = (): string => serializeUrlState(store.state.params, { ...view, step: playback.step }, embedFromQuery ? ['embed'] : []);
  const applyUrl = (hash: string): void => {
    const next = parseUrlState(location.search, hash);
    store.setParams(next.params);
    view.theme = next.view.theme;
    view.ink = next.view.ink;
    view.loop = next.view.loop;
    view.autoplay = next.view.autoplay;
    playback.loop = view.loop;
    applyTheme(view.theme);
    showUrlIssues(next.issues);
    seekFromUrl(next.view.step);
    if (view.autoplay) playback.play();
    panel?.refresh();
    renderReadouts();
    writeUrl();
  };
  const urlOwner = new UrlOwner({
    host: {
      get hash() {
        return location.hash;
      },
      replaceHash: (hash) => history.replaceState(history.state, '', `${location.pathname}${location.search}${hash}`),
    },
    serialize: currentHash,
    onExternal: applyUrl,
    delayMs: URL_WRITE_DELAY_MS,
    onWritten: () => {
      openLink.href = `${location.pathname}#${serializeUrlState(store.state.params, { ...view, step: playback.step, embed: false, panel: false })}`;
    },
  });
  const writeUrl = (): void => urlOwner.schedule();
  window.addEventListener('hashchange', () => urlOwner.poll());

  // ---- Sharing ------------------------------------------------------------------------------------
  const appBase = (): string => `${location.origin}${location.pathname}`;
  const embedCode = (): string => embedSnippet(appBase(), store.state.params, { ...view, step: playback.step });
  const copyText = async (text: string): Promise<boolean> => {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      return false;
    }
  };
  const shareDialog = createShareDialog();
  const actions = {
    copyLink: (): void => {
      const link = `${appBase()}${location.search}#${currentHash()}`;
      void copyText(link).then((ok) => shareDialog.open('Link to this view', link, ok));
    },
    copyEmbed: (): void => {
      const code = embedCode();
      void copyText(code).then((ok) => shareDialog.open('Embed code for a slide or page (16:9; add &autoplay=1 to the src to animate)', code, ok));
    },
    savePng: (): void => {
      void savePng().catch((error: unknown) => messages.show('png', 'error', `Could not save the PNG: ${error instanceof Error ? error.message : String(error)}`));
    },
  };
  let lastPng: { width: number; height: number; filename: string; sceneWidth: number; sceneHeight: number; bandHeight: number; scale: number } | null = null;
  const savePng = async (): Promise<void> => {
    const canvas = byId<HTMLCanvasElement>('scene-canvas') ?? el('canvas');
    const plan = store.state.plan;
    const step = playback.step;
    // The export states this params' numbers even when the planner worker has not answered yet.
    if (store.pricedPlan !== plan) readouts.update({ plan, step, theme: view.theme });
    const { canvas: png, layout } = await composePng({
      canvas,
      scene,
      theme: view.theme,
      title: `Shardscope · ${describeState(store.state.params)} · ${plan.gpu.name}`,
      lines: plan.valid ? readouts.summaryLines() : [`⚠ Cannot run: ${plan.reason ?? 'invalid parameters'}`],
      verification: verificationText,
      memory: readouts.memoryData(),
      comparison: compareView?.exportTable() ?? null,
    });
    const filename = pngFilename(store.state.params, step);
    lastPng = { width: png.width, height: png.height, filename, ...layout };
    await downloadCanvas(png, filename);
  };

  // ---- Panel ------------------------------------------------------------------------------------------
  const panelRoot = byId('panel') ?? body.appendChild(el('div', { id: 'panel' }));
  let hintShown = false;
  const retireHint = (): void => {
    if (!hintShown) return;
    hintShown = false;
    messages.dismiss('hint');
    try {
      localStorage.setItem(HINT_KEY, '1');
    } catch {
      /* storage may be unavailable (private mode, sandboxed iframe) */
    }
  };
  const narrow = matchMedia('(max-width: 800px)').matches;
  const panel: Panel | null =
    !view.embed || view.panel
      ? new Panel({
          store,
          playback,
          messages,
          container: panelRoot,
          actions,
          closed: narrow || view.embed,
          onLoopChange: (loop) => {
            view.loop = loop;
            retireStaleUrlIssues();
            writeUrl();
          },
        })
      : null;
  panelRoot.hidden = panel === null;

  // ---- Compare & plan (not in embeds: a slide shows one strategy) -------------------------------
  const compareView: CompareView | null = view.embed
    ? null
    : new CompareView({
        setParams: (change) => {
          retireHint();
          for (const issue of store.setParams(change)) messages.show(`param-${issue.field}`, 'warning', issue.message);
          panel?.refresh();
        },
        copy: (title, text) => void copyText(text).then((ok) => shareDialog.open(title, text, ok)),
      });
  if (compareView) (byId('layout') ?? body).append(compareView.root);
  const renderCompare = (): void => {
    const plan = store.pricedPlan;
    compareView?.update({ ...store.state.params }, plan.params === store.state.params ? plan : null, view.theme);
  };

  // ---- First-visit hint -------------------------------------------------------------------------------
  if (!view.embed) {
    let dismissed = false;
    try {
      dismissed = localStorage.getItem(HINT_KEY) === '1';
    } catch {
      dismissed = true;
    }
    if (!dismissed) {
      hintShown = true;
      messages.show(
        'hint',
        'info',
        'Each lane is one GPU (rank) holding a slice of the sequence. Try first: drag “sequence length” or press a rank count in Controls and watch memory per rank; press Space to play the steps.',
        { label: 'Got it', run: retireHint },
      );
      byId('messages')?.addEventListener('click', (event) => {
        const target = event.target as HTMLElement | null;
        if (target?.closest('.message[data-key="hint"] .message-close')) retireHint();
      });
    }
  }

  // ---- Subscriptions --------------------------------------------------------------------------------
  let lastStep = playback.step;
  store.subscribe(() => {
    retireStaleUrlIssues();
    renderCompare();
    writeUrl();
  });
  store.onPlan((plan) => {
    playback.setStepCount(stepCountOf(plan.schedule));
    if (pendingSeek !== null) seekFromUrl(pendingSeek);
    renderReadouts();
  });
  playback.subscribe((s) => {
    if (s.step !== lastStep) {
      lastStep = s.step;
      retireStaleUrlIssues();
      renderReadouts();
      writeUrl();
    }
  });
  if (panel) {
    // A user edit in the panel retires the orientation hint: they have found the controls.
    panel.gui.domElement.addEventListener('input', retireHint, { capture: true });
    panel.gui.domElement.addEventListener('change', retireHint, { capture: true });
    panel.gui.domElement.addEventListener('click', (e) => {
      if ((e.target as HTMLElement | null)?.closest('button')) retireHint();
    });
  }

  applyTheme(view.theme);
  renderReadouts();
  renderCompare();
  writeUrl();
  if (view.autoplay) playback.play();

  // ---- window.shardscope --------------------------------------------------------------------------
  exposeField('memoryPerRank', () => store.state.plan.perRank.map((r) => r.memory.peak));
  exposeField('memoryNowPerRank', () => store.state.plan.perRank.map((r) => memoryAtStep(r, playback.step) ?? r.memory.peak));
  exposeField('memory', () => {
    const p = store.state.plan;
    return { capacity: p.gpu.memoryBytes, baselinePeak: p.baseline.memory.peak, oom: p.oom, perRank: p.perRank.map((r) => ({ rank: r.rank, ...r.memory })) };
  });
  exposeField('commPerRank', () => store.state.plan.perRank.map((r) => r.commBytesPerLayer));
  exposeField('balance', () => store.state.plan.balance);
  exposeField('timeline', () => {
    const t = store.state.plan.timeline;
    return { forward: t.forward, backward: t.backward, loss: t.loss, exposedPerLayer: t.exposedPerLayer, ringOverlap: t.ringOverlap };
  });
  // The overlap verdict the readout states, read from the timeline (model/timeline.ts).
  exposeField('overlap', () => store.state.plan.overlap);
  exposeField('planValid', () => ({ valid: store.state.plan.valid, reason: store.state.plan.reason ?? null }));
  exposeField('view', () => ({ ...view, step: playback.step }));
  exposeField('embedCode', () => embedCode());
  exposeField('lastPng', () => lastPng);
  // compare --json's rows for the page's params, once every longest-fit search is done (null before).
  exposeField('comparison', () => compareView?.comparisonRows() ?? null);

  return {
    view,
    attachScene(s: SceneHandle): void {
      scene = s;
      s.setTheme?.(view.theme);
    },
    attachVerification(source: VerificationSource): void {
      const update = (status: VerificationView): void => {
        readouts.setVerification(status);
        verificationText = readouts.verificationShort();
      };
      source.subscribe(update);
      update(source.status);
    },
    showGpuLost(text: string, restart: () => void | Promise<void>): void {
      messages.show('gpu-lost', 'error', text, {
        label: 'Restart GPU',
        run: () => {
          messages.dismiss('gpu-lost');
          void Promise.resolve(restart()).catch((error: unknown) => messages.show('gpu-lost', 'error', `Restarting the GPU failed: ${error instanceof Error ? error.message : String(error)}`));
        },
      });
    },
    dismissGpuLost(): void {
      messages.dismiss('gpu-lost');
    },
  };
}


/** A small dialog that shows a link or snippet (selectable text, never HTML) and whether it was copied. */
function createShareDialog(): { open(title: string, text: string, copied: boolean): void } {
  const heading = el('h2', { id: 'ui-share-title' });
  const area = el('textarea', { id: 'ui-share-text', readonly: '', rows: '4', spellcheck: 'false', 'aria-labelledby': 'ui-share-title' });
  const status = el('p', { id: 'ui-share-status', role: 'status' });
  const copy = el('button', { type: 'button' }, 'Copy');
  const close = el('button', { type: 'button' }, 'Close');
  const dialog = el('dialog', { id: 'ui-share', 'aria-labelledby': 'ui-share-title' }, heading, area, status, el('div', { class: 'ui-share-buttons' }, copy, close));
  document.body.append(dialog);
  close.addEventListener('click', () => dialog.close());
  copy.addEventListener('click', () => {
    area.select();
    void navigator.clipboard
      .writeText(area.value)
      .then(() => (status.textContent = 'Copied to the clipboard.'))
      .catch(() => (status.textContent = 'Select the text and press Ctrl+C (⌘C) to copy.'));
  });
  return {
    open(title: string, text: string, copied: boolean): void {
      heading.textContent = title;
      area.value = text;
      status.textContent = copied ? 'Copied to the clipboard.' : 'Select the text and press Ctrl+C (⌘C) to copy.';
      if (!dialog.open) dialog.showModal();
      area.focus();
      area.select();
    },
  };
}

export { DEFAULT_VIEW };
