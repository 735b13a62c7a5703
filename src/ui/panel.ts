// The lil-gui control panel. It changes Params only (store.setParams) and playback; it never
// computes costs. An invalid strategy / rank combination keeps the user's choice and shows the
// schedule's reason beside the controls.

import GUI, { type Controller } from 'lil-gui';
import {
  applyModelPreset,
  DTYPES,
  GPU_PRESETS,
  gpuPreset,
  IMPL_IDS,
  MAX_EXEC_SEQ,
  MAX_RANKS,
  MODEL_PRESETS,
  parseField,
  RECOMPUTE_MODES,
  STRATEGY_IDS,
  ZERO_STAGES,
  type Params,
} from '../model/params.ts';
import { STRATEGIES } from '../model/strategies/index.ts';
import { DEFAULT_IMPL, IMPL_NAMES, implKnobs, resolveImpl } from '../model/strategies/impl.ts';
import { countOf, formatBandwidth, formatBytes, formatFlopRate } from '../model/format.ts';
import { zeroGroupSize } from '../model/memory.ts';
import type { Store } from '../app/store.ts';
import type { Playback } from '../app/playback.ts';
import type { Messages } from '../app/messages.ts';
import { nearestStopIndex, powersOfTwo, SEQ_STOPS, seqLabel, stopValue } from './seqScale.ts';
import { el, setAttr, setText } from './dom.ts';
import { createConfigImport } from './compareConfig.ts';

export interface PanelActions {
  copyLink(): void;
  copyEmbed(): void;
  savePng(): void;
}

export interface PanelOptions {
  readonly store: Store;
  readonly playback: Playback;
  readonly messages: Messages;
  readonly container: HTMLElement;
  readonly actions: PanelActions;
  /** Called after a user edit (not after URL restores), e.g. to retire the first-visit hint. */
  readonly onUserChange?: () => void;
  readonly onLoopChange?: (loop: boolean) => void;
  readonly closed?: boolean;
}

type ShapeKey = 'layers' | 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'vocab' | 'ffnHidden';
const SHAPE_KEYS: readonly ShapeKey[] = ['layers', 'hidden', 'heads', 'kvHeads', 'headDim', 'vocab', 'ffnHidden'];

function row(name: string, ...widget: Node[]): { row: HTMLElement; name: HTMLElement; widget: HTMLElement } {
  const nameEl = el('div', { class: 'lil-name' }, name);
  const widgetEl = el('div', { class: 'lil-widget' }, ...widget);
  return { row: el('div', { class: 'lil-controller ui-row' }, nameEl, widgetEl), name: nameEl, widget: widgetEl };
}

export class Panel {
  readonly gui: GUI;
  readonly #store: Store;
  readonly #playback: Playback;
  readonly #messages: Messages;
  readonly #options: PanelOptions;
  /** The object lil-gui edits: a copy of the params, refreshed from the store. */
  readonly #m: Params;
  /** The params the controls showed last (#refreshControls). */
  #shown: Readonly<Params> | null = null;
  /** The params the notes and per-strategy controls were last written for (#refreshParams). */
  #noted: Readonly<Params> | null = null;
  /** The verdict last shown ('' when the plan can run). */
  #verdict: string | null = null;
  /** A summary of the playback state last shown. */
  #playbackShown = '';
  readonly #controllers = new Map<keyof Params, Controller>();
  readonly #reason = el('div', { class: 'ui-reason', id: 'ui-reason', role: 'alert', hidden: '' });
  readonly #seqRange = el('input', { type: 'range', id: 'ui-seq-range', min: '0', max: String(SEQ_STOPS.length - 1), step: '1', 'aria-label': 'sequence length (log scale)' });
  readonly #seqText = el('input', { type: 'text', id: 'ui-seq-text', class: 'ui-seq-text', inputmode: 'text', 'aria-label': 'sequence length in tokens, e.g. 128K or 1M', spellcheck: 'false' });
  readonly #rankButtons: HTMLButtonElement[] = [];
  readonly #gpuInfo = el('div', { class: 'ui-info', id: 'ui-gpu-info' });
  readonly #zeroInfo = el('div', { class: 'ui-info', id: 'ui-zero-info' });
  readonly #strategyInfo = el('div', { class: 'ui-info ui-strategy-info', id: 'ui-strategy-info' });
  readonly #implInfo = el('div', { class: 'ui-info', id: 'ui-impl-info' });
  readonly #effInfo = el('div', { class: 'ui-info', id: 'ui-eff-info' });
  readonly #play: { play: () => void; previous: () => void; next: () => void; restart: () => void; step: number; speed: number; loop: boolean };
  #playController: Controller | null = null;
  #stepController: Controller | null = null;
  #playbackFolder: GUI | null = null;

  constructor(options: PanelOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#playback = options.playback;
    this.#messages = options.messages;
    this.#m = { ...this.#store.state.params };
    this.gui = new GUI({ container: options.container, title: 'Controls', width: 280, injectStyles: false }); // styles: main.ts imports lil-gui.css (CSP)
    this.gui.domElement.id = 'ui-gui';
    const gui = this.gui;
    const m = this.#m;

    // Sharing first: the actions people come back for.
    const actions = { copyLink: options.actions.copyLink, copyEmbed: options.actions.copyEmbed, savePng: options.actions.savePng };
    gui.add(actions, 'copyLink').name('Copy link');
    gui.add(actions, 'copyEmbed').name('Copy embed code');
    gui.add(actions, 'savePng').name('Save PNG (2×)');

    // Parallelism.
    const par = gui.addFolder('Parallelism');
    const strategyOptions = Object.fromEntries(STRATEGY_IDS.map((id) => [STRATEGIES[id].name, id]));
    this.#add(par.add(m, 'strategy', strategyOptions).name('strategy'), 'strategy');
    par.$children.append(this.#strategyInfo);
    const seq = row('sequence length', this.#seqRange, this.#seqText);
    seq.row.id = 'ui-seq';
    seq.name.id = 'ui-seq-name';
    par.$children.append(seq.row);
    this.#seqRange.addEventListener('input', () => {
      const value = stopValue(Number(this.#seqRange.value));
      this.#seqText.value = seqLabel(value);
      this.#set({ seq: value });
    });
    const commitText = (): void => {
      const r = parseField('seq', this.#seqText.value);
      if ('issue' in r) {
        this.#messages.show('param-seq', 'warning', r.issue.message.replace(/, using [^,]*\.$/, `; keeping ${seqLabel(this.#store.state.params.seq)}.`));
        this.#syncSeq();
        return;
      }
      this.#messages.dismiss('param-seq');
      this.#set({ seq: r.value });
    };
    this.#seqText.addEventListener('change', commitText);
    this.#seqText.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') commitText();
    });

    this.#add(par.add(m, 'ranks', 1, MAX_RANKS, 1).name('ranks (P)'), 'ranks');
    const chips = el('div', { class: 'ui-chips', role: 'group', 'aria-label': 'ranks: powers of two' });
    for (const p of powersOfTwo(MAX_RANKS)) {
      const b = el('button', { type: 'button', class: 'ui-chip', 'data-ranks': String(p), 'aria-pressed': 'false' }, String(p));
      b.addEventListener('click', () => this.#set({ ranks: p }));
      this.#rankButtons.push(b);
      chips.append(b);
    }
    const chipsRow = row('', chips).row;
    chipsRow.classList.add('ui-chips-row');
    par.$children.append(chipsRow);
    this.#add(par.add(m, 'ulysses', 1, MAX_RANKS, 1).name('Ulysses degree (U)'), 'ulysses');
    this.#add(par.add(m, 'tp', 1, 64, 1).name('TP degree'), 'tp');
    // Whose code the schedule and costs follow (strategies/impl.ts); 'auto' = the strategy's default.
    const implOptions = Object.fromEntries(IMPL_IDS.map((id) => [id === 'auto' ? 'auto (strategy default)' : IMPL_NAMES[id], id]));
    this.#add(par.add(m, 'impl', implOptions).name('implementation'), 'impl');
    par.$children.append(this.#implInfo);
    par.$children.append(this.#reason);

    // Model.
    const model = gui.addFolder('Model');
    const presetOptions = Object.fromEntries([...MODEL_PRESETS.map((p) => [p.name, p.id]), ['custom', 'custom']]);
    model.add(m, 'model', presetOptions).name('preset').onChange((id: string) => {
      this.#options.onUserChange?.();
      const next = applyModelPreset(this.#store.state.params as Params, id);
      this.#apply(next);
    });
    this.#controllers.set('model', model.controllers[model.controllers.length - 1] as Controller);
    const labels: Record<ShapeKey, string> = { layers: 'layers', hidden: 'hidden size', heads: 'heads', kvHeads: 'K/V heads', headDim: 'head dim', vocab: 'vocab', ffnHidden: 'FFN hidden' };
    for (const key of SHAPE_KEYS) this.#add(model.add(m, key).min(1).step(1).name(labels[key]), key);
    this.#add(model.add(m, 'microBatch').min(1).step(1).name('micro-batch'), 'microBatch');
    model.$children.append(createConfigImport({ getParams: () => this.#store.state.params, setParams: (change) => this.#set(change), messages: this.#messages }));
    model.close();

    // Memory.
    const mem = gui.addFolder('Memory');
    this.#add(mem.add(m, 'dtype', [...DTYPES]).name('dtype'), 'dtype');
    this.#add(mem.add(m, 'flash').name('flash attention'), 'flash');
    this.#add(mem.add(m, 'recompute', [...RECOMPUTE_MODES]).name('recompute'), 'recompute');
    this.#add(mem.add(m, 'zero', { 'off (replicated)': 0, '1: optimizer': 1, '2: + grads': 2, '3: + weights (FSDP)': 3 } satisfies Record<string, (typeof ZERO_STAGES)[number]>).name('ZeRO / FSDP'), 'zero');
    this.#add(mem.add(m, 'dp').min(1).step(1).name('data-parallel size'), 'dp');
    mem.$children.append(this.#zeroInfo);

    // Hardware.
    const hw = gui.addFolder('Hardware');
    this.#add(hw.add(m, 'gpu', Object.fromEntries(GPU_PRESETS.map((g) => [g.name, g.id]))).name('GPU'), 'gpu');
    hw.$children.append(this.#gpuInfo);
    this.#add(hw.add(m, 'attnEff', 1, 100, 1).name('attention kernel % of peak'), 'attnEff');
    this.#add(hw.add(m, 'gemmEff', 1, 100, 1).name('GEMM % of peak'), 'gemmEff');
    hw.$children.append(this.#effInfo);

    // Playback.
    const pb = gui.addFolder('Playback');
    this.#playbackFolder = pb;
    this.#play = {
      play: () => this.#playback.toggle(),
      previous: () => this.#playback.previous(),
      next: () => this.#playback.next(),
      restart: () => this.#playback.restart(),
      step: 0,
      speed: this.#playback.speed,
      loop: this.#playback.loop,
    };
    this.#playController = pb.add(this.#play, 'play').name('▶ Play');
    pb.add(this.#play, 'previous').name('◀ Previous step');
    pb.add(this.#play, 'next').name('Next step ▶');
    pb.add(this.#play, 'restart').name('⏮ Restart');
    this.#stepController = pb
      .add(this.#play, 'step', 1, Math.max(1, this.#playback.stepCount), 1)
      .name('step')
      .onChange((v: number) => this.#playback.seek(v - 1));
    pb.add(this.#play, 'speed', 0.1, 4, 0.1).name('speed (steps/s)').onChange((v: number) => {
      this.#playback.speed = v;
    });
    pb.add(this.#play, 'loop').name('loop').onChange((v: boolean) => {
      this.#playback.loop = v;
      this.#options.onLoopChange?.(v);
    });

    // Verification.
    const ver = gui.addFolder('Verification');
    this.#add(ver.add(m, 'execSeq').min(1).max(MAX_EXEC_SEQ).step(1).name('executed tokens'), 'execSeq');
    this.#add(ver.add(m, 'seed').min(0).step(1).name('seed'), 'seed');
    this.#add(ver.add(m, 'localMask').name('local mask (bug demo)'), 'localMask');
    ver.$children.append(
      el('div', { class: 'ui-info' }, 'The GPU runs the sharded attention at the executed size and compares it with unsharded attention. The local mask masks by local instead of global position: a real bug.'),
    );
    ver.close();

    // Params on each change; the verdict and the step count when the plan for them arrives.
    this.#store.subscribe(() => this.#refreshParams());
    this.#store.onPlan(() => {
      this.#refreshVerdict();
      this.#refreshPlayback();
    });
    this.#playback.subscribe(() => this.#refreshPlayback());
    if (options.closed) gui.close();
    this.refresh();
  }

  /** Registers a Params controller: validates, applies, reports bad typed values. */
  #add(controller: Controller, key: keyof Params): Controller {
    this.#controllers.set(key, controller);
    controller.domElement.dataset.param = key;
    controller.onChange((value: unknown) => {
      const r = parseField(key, value);
      if ('issue' in r) {
        this.#messages.show(`param-${key}`, 'warning', r.issue.message.replace(/, using [^,]*\.$/, `; keeping ${String(this.#store.state.params[key])}.`));
        (this.#m as unknown as Record<string, unknown>)[key] = this.#store.state.params[key];
        controller.updateDisplay();
        return;
      }
      this.#messages.dismiss(`param-${key}`);
      const change: Partial<Params> = { [key]: r.value };
      if ((SHAPE_KEYS as readonly string[]).includes(key)) {
        const preset = MODEL_PRESETS.find((p) => p.id === this.#store.state.params.model);
        if (preset && preset[key as ShapeKey] !== r.value) change.model = 'custom';
      }
      this.#set(change);
    });
    return controller;
  }

  #set(change: Partial<Params>): void {
    this.#options.onUserChange?.();
    const issues = this.#store.setParams(change);
    for (const issue of issues) this.#messages.show(`param-${issue.field}`, 'warning', issue.message);
    // setParams may have fixed a field (or changed nothing): show what the store holds. Only the
    // controls: the plan's verdict follows when the store notifies, once per frame, so a slider
    // drag that fires many input events per frame prices one plan per frame, not one per event.
    this.#refreshControls(Object.keys(change) as (keyof Params)[]);
  }

  #apply(next: Params): void {
    this.#set(next);
  }

  #syncSeq(): void {
    const seq = this.#store.state.params.seq;
    const index = String(nearestStopIndex(seq));
    if (this.#seqRange.value !== index) this.#seqRange.value = index;
    if (document.activeElement !== this.#seqText) this.#seqText.value = seqLabel(seq);
    this.#seqRange.setAttribute('aria-valuetext', `${seqLabel(seq)} tokens`);
  }

  /**
   * Shows the store's params in the controls: those that differ from what was shown last, plus
   * `also` (a control the user just edited, whose value the store may have refused or fixed).
   * A lil-gui updateDisplay writes the control's DOM, so updating all 30 on every change costs a
   * style and layout pass of the panel.
   */
  #refreshControls(also: readonly (keyof Params)[] = []): void {
    const params = this.#store.state.params;
    const shown = this.#shown;
    Object.assign(this.#m, params);
    for (const [key, c] of this.#controllers) if (!shown || shown[key] !== params[key] || also.includes(key)) c.updateDisplay();
    this.#shown = params;
    this.#syncSeq();
  }

  /** Shows the store's params, the plan's verdict and the playback in the controls. */
  refresh(): void {
    this.#refreshParams();
    this.#refreshVerdict();
    this.#refreshPlayback();
  }

  /** The controls and the notes under them, for the store's params (once per params). */
  #refreshParams(): void {
    const { params } = this.#store.state;
    if (params === this.#noted) return;
    this.#noted = params;
    this.#refreshControls();
    for (const b of this.#rankButtons) setAttr(b, 'aria-pressed', String(Number(b.dataset.ranks) === params.ranks));
    this.#controllers.get('ulysses')?.show(params.strategy === 'usp');
    this.#controllers.get('tp')?.disable(params.strategy === 'megatron-sp');
    const tp = this.#controllers.get('tp');
    if (tp) tp.name(params.strategy === 'megatron-sp' ? 'TP degree (= ranks)' : 'TP degree');

    const info = STRATEGIES[params.strategy];
    setText(this.#strategyInfo, info.description);
    setAttr(this.#strategyInfo, 'title', `Source: ${info.source}`);
    const impl = resolveImpl(params);
    const knobs = implKnobs(params.strategy, impl).map((k) => `${k.framework}: ${k.code.split('\n').join(' · ')}${k.note ? ` (${k.note})` : ''}`);
    setText(
      this.#implInfo,
      `${params.impl === 'auto' ? `auto → ${IMPL_NAMES[impl]} (the default for ${info.name})` : IMPL_NAMES[impl]}. ${knobs.join('; ')}`,
    );
    setAttr(this.#implInfo, 'title', `Defaults per strategy: ${Object.entries(DEFAULT_IMPL).map(([s, i]) => `${s} → ${i}`).join(', ')}`);
    setText(
      this.#effInfo,
      `Attention kernels at ${params.attnEff}% and GEMMs at ${params.gemmEff}% of the dense peak. Defaults 50% and 80%: FlashAttention-2 reaches 50–73% of peak on A100 and optimised GEMMs 80–90% (Dao 2023, abstract and §1).`,
    );

    const g = gpuPreset(params);
    setText(
      this.#gpuInfo,
      `${formatBytes(g.memoryBytes)} memory · ${formatFlopRate(g.flops)} dense bf16 · ${formatBandwidth(g.intraNodeBandwidth)} within a node · ${formatBandwidth(g.interNodeBandwidth)} across nodes · ${g.gpusPerNode} GPUs per node`,
    );
    setText(this.#zeroInfo, params.zero === 0 ? 'Weights, grads and optimizer state are replicated on every rank.' : `ZeRO-${params.zero} shards over ${countOf(zeroGroupSize(params), 'GPU')} (data-parallel × CP ranks).`);
  }

  /** Whether the newest plan can run (the planner worker answers a frame or two after a change). */
  #refreshVerdict(): void {
    const { schedule } = this.#store.pricedPlan;
    const reason = schedule.valid ? '' : `⚠ ${schedule.reason || 'This combination cannot run.'}`;
    if (reason === this.#verdict) return;
    this.#verdict = reason;
    const invalid = !schedule.valid;
    this.#reason.hidden = !invalid;
    setText(this.#reason, reason);
    for (const key of ['strategy', 'ranks', 'ulysses', 'tp', 'impl'] as const) {
      const c = this.#controllers.get(key);
      c?.domElement.classList.toggle('ui-invalid', invalid);
      const input = c?.domElement.querySelector('select, input');
      input?.setAttribute('aria-invalid', String(invalid));
      if (invalid) input?.setAttribute('aria-describedby', 'ui-reason');
      else input?.removeAttribute('aria-describedby');
    }
  }

  #refreshPlayback(): void {
    const pb = this.#playback;
    const shown = `${pb.playing} ${pb.step} ${pb.stepCount} ${pb.loop} ${pb.speed}`;
    if (shown === this.#playbackShown) return;
    this.#playbackShown = shown;
    this.#playController?.name(pb.playing ? '❚❚ Pause' : '▶ Play');
    this.#play.step = pb.step + 1;
    this.#play.loop = pb.loop;
    this.#play.speed = pb.speed;
    const sc = this.#stepController;
    if (sc) {
      sc.max(Math.max(1, pb.stepCount));
      sc.name(`step (of ${pb.stepCount})`);
      sc.updateDisplay();
    }
    for (const c of this.#playbackFolder?.controllers ?? []) c.updateDisplay();
  }
}
