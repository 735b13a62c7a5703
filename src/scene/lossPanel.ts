// The loss step: each rank's tokens and labels (label i = token i+1, shifted before sharding), its
// local (Σℓ, count), the all-reduce of that pair, and the per-shard label-shift bug on demand.

import { tokenCount } from '../model/schedule.ts';
import { rankColor, type Rgb } from './colors.ts';
import { column, drawSet, laneOf, type Model, type SceneContext } from './context.ts';
import { formatTokens, headSpan, segmentPieces, tokenSpan } from './layout.ts';
import { labelsShiftedPerShard, ownerOf } from './loss.ts';
import { PANEL_LINE, fitText, linesOf, text, type Label } from './overlay.ts';

const ERROR_MARK: Rgb = [0.835, 0.369, 0]; // Okabe–Ito vermillion: lost / wrong labels

export interface LossView {
  /** Draws the loss step's lanes and fills the panel. */
  draw(stepIndex: number, labels: Label[]): void;
  /** A new schedule: refill the panel on the next draw. */
  invalidate(): void;
}

export function createLossView(ctx: SceneContext): LossView {
  let lossKey = '';

  function drawLoss(stepIndex: number, labels: Label[]): void {
    const { blocks, grads, marks } = ctx.pools;
    const m = ctx.model as Model;
    const s = m.schedule;
    const shards = s.shards.map((x) => x.tokens);
    const qc = column(ctx, 'q');
    const kc = column(ctx, 'kv');
    const oc = column(ctx, 'o');
    let lost = 0;
    let wrong = 0;
    s.shards.forEach((shard, r) => {
      const lane = laneOf(ctx, r);
      if (!lane) return;
      const y = headSpan(lane, { start: 0, end: 1 }, 1, 1);
      drawSet(ctx, blocks, qc, shard.tokens, y.y, y.h, m, 0);
      // Labels: the target of token i is token i+1 (coloured by the target's position).
      const labelled = s.loss.labelled[r] ?? [];
      if (!ctx.labelBug) {
        drawSet(ctx, blocks, kc, labelled, y.y, y.h, m, 0, 1);
        // Boundary: the shard's last token takes its label from the next shard (no communication: shifted before sharding).
        for (const seg of shard.tokens) {
          if (seg.stride !== 1 || seg.count === 0) continue;
          const last = seg.start + seg.count - 1;
          if (last >= s.seq - 1 || ownerOf(shards, last + 1) === r) continue;
          const span = tokenSpan(kc, s.seq, last, last + 1);
          const size = Math.max(5, Math.min(12, lane.h * 0.8));
          marks.push(span.x - size / 2, lane.y + lane.h / 2 - size / 2, size, size, ctx.palette.highlight);
        }
      } else {
        // Per-shard shift: each buffer is shifted locally; its last token loses its target and a
        // non-adjacent next token gives a wrong one.
        const report = labelsShiftedPerShard(shard.tokens, s.seq);
        lost += report.lost;
        wrong += report.wrong;
        for (const seg of shard.tokens) {
          if (seg.stride === 1) drawSet(ctx, blocks, kc, [{ start: seg.start, count: Math.max(0, seg.count - 1), stride: 1 }], y.y, y.h, m, 0, 1);
          else
            for (const piece of segmentPieces(seg, m.block, 192)) {
              const span = tokenSpan(kc, s.seq, piece.t0, piece.t1);
              grads.push(span.x, y.y, Math.max(1, span.w), y.h, ERROR_MARK);
            }
        }
        const segs = shard.tokens.filter((g) => g.count > 0);
        segs.forEach((seg, i) => {
          const last = seg.start + (seg.count - 1) * seg.stride;
          const next = segs[i + 1];
          const isBufferEnd = !next;
          if (isBufferEnd && last >= s.seq - 1) return;
          if (!isBufferEnd && next && next.start === last + 1) return;
          const span = tokenSpan(kc, s.seq, last, last + 1);
          const size = Math.max(6, Math.min(13, lane.h * 0.85));
          marks.push(span.x - size / 2, lane.y + lane.h / 2 - size / 2, size, size, ERROR_MARK);
        });
      }
      // The (loss sum, count) pair of this rank.
      const size = Math.max(5, Math.min(14, lane.h * 0.8));
      marks.push(oc.x + oc.w * 0.15 - size / 2, lane.y + lane.h / 2 - size / 2, size, size, rankColor(r));
      if (lane.h >= 11) {
        const n = formatTokens(ctx.labelBug ? Math.max(0, tokenCount(shard.tokens) - 1) : tokenCount(labelled));
        const x = oc.x + oc.w * 0.15 + size;
        labels.push({ text: fitText([`Σℓ over ${n} labels`, `Σℓ, ${n}`], oc.x + oc.w - x - 2, 11), x, y: lane.y + lane.h / 2, align: 'l', cls: 'ss-small ss-vm', maxW: oc.x + oc.w - x });
      }
    });
    const lastStep = s.steps[stepIndex];
    const reduced = lastStep?.collectives.some((c) => c.kind === 'all-reduce') ?? false;
    renderLossPanel(lost, wrong, reduced);
  }

  function renderLossPanel(lost: number, wrong: number, reduced: boolean): void {
    const m = ctx.model as Model;
    const key = `${lost}|${wrong}|${reduced}|${ctx.labelBug}|${panelKey()}`;
    if (ctx.dom.panel.dataset.owner === 'loss' && lossKey === key) return;
    ctx.dom.panel.dataset.owner = 'loss';
    lossKey = key;
    ctx.dom.panel.replaceChildren();
    ctx.dom.panel.removeAttribute('title');
    const W = ctx.layout.panel.w - 4;
    text(ctx.dom.panel, 'div', fitText(['loss: local cross-entropy, then all-reduce (sum, count)', 'loss: local CE, all-reduce (sum, count)', 'loss: all-reduce (sum, count)'], W, 12, true), 'ss-panel-title');
    const row = document.createElement('label');
    row.className = 'ss-toggle';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = ctx.labelBug;
    box.addEventListener('change', () => {
      ctx.labelBug = box.checked;
      ctx.builtStep = -1;
    });
    row.append(box, document.createTextNode(W >= 300 ? ' show the bug: shift labels per shard, after sharding' : ' show the per-shard shift bug'));
    ctx.dom.panel.append(row);
    const s = m.schedule;
    const parts: { t: string; cls: string }[] = [];
    if (reduced) parts.push({ t: `After the all-reduce: mean loss = Σℓ / ${formatTokens(Math.max(0, s.seq - 1))} labels.`, cls: 'ss-small-block ss-strong' });
    if (!ctx.labelBug) parts.push({ t: `Right: labels = tokens[1:] before sharding. ${formatTokens(Math.max(0, s.seq - 1))} targets, none lost; ◆ marks a shard’s last token, whose target is the next shard’s first token (no communication needed).`, cls: 'ss-small-block' });
    else
      parts.push({
        t: `Bug: each rank shifts its own buffer. ${lost} label${lost === 1 ? '' : 's'} lost (◆, one per shard boundary)${wrong ? `, ${formatTokens(wrong)} wrong (▱: the buffer’s next token is not the sequence’s next token)` : ''}. The loss silently trains on fewer or wrong targets.`,
        cls: 'ss-small-block ss-bug',
      });
    if (s.strategy === 'zigzag' || s.strategy === 'striped' || s.strategy === 'allgather') parts.push({ t: 'Permuted layout: labels and position ids are permuted exactly like the tokens.', cls: 'ss-small-block' });
    // Whatever does not fit goes into the tooltip.
    let used = 2 * PANEL_LINE + 6;
    const hidden: string[] = [];
    for (const p of parts) {
      const h = linesOf(p.t, 11.5, W) * PANEL_LINE + 3;
      if (used + h <= ctx.layout.panel.h) {
        text(ctx.dom.panel, 'div', p.t, p.cls);
        used += h;
      } else hidden.push(p.t);
    }
    if (hidden.length) ctx.dom.panel.title = hidden.join('\n');
  }

  function panelKey(): string {
    const P = ctx.layout.panel;
    return `${P.w}x${P.h}`;
  }

  return {
    draw: drawLoss,
    invalidate() {
      lossKey = '';
    },
  };
}
