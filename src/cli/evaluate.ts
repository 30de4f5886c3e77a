import { MANIFEST_JSON, parseManifest, type ModelManifest } from '../model/manifest';
import fs from 'node:fs';
import path from 'node:path';
import type { Settings } from '../config/schema';
import type { Decision } from '../contract';
import type { Logger } from '../log';
import { curveSvg, histogramSvg } from '../model/charts';
import { evaluate, type EvalLabel, type Evaluation } from '../model/evaluate';
import { activeVersion, modelDir } from '../model/registry';
import { readJsonLines, writeJsonl, writeLabels } from '../sim/write';
import { activePolicy, modelsDirOf } from './context';
import type { CompiledPolicy } from '../policy/compile';
import { RISK_LEVELS, type Sensitivity } from '../policy/schema';
import { replay, type ReplaySummary } from './replay';
import { simulateLabelled, type SimulatedData } from './train';

export interface EvaluateOptions extends SimulatedData {
  /** SessionAction JSON Lines; none: a held-out split is simulated (see seed). */
  input?: string;
  /** Their labels (event_id, session_id, label, scenario), any order. */
  labels?: string;
  /** Report folder (created). */
  out: string;
  /** Model version to evaluate (default: the active one). */
  modelVersion?: string;
  /** Also write MODEL_CARD.md next to the evaluated model. */
  writeCard: boolean;
}

export interface EvaluateResult {
  evaluation: Evaluation;
  replay: ReplaySummary;
  dir: string;
  model: string;
}

const pct = (x: number, d = 1) => `${(100 * x).toFixed(d)}%`;
/**
 * `risk-stream evaluate`: runs the model through exactly the replay pipeline on labelled events
 * (the user's, or a held-out split simulated with a seed training did not use), then writes a
 * report folder: index.html and report.md (tables and the charts), roc.svg, pr.svg, scores.svg,
 * metrics.json, and the decisions it was computed from.
 */
export async function runEvaluate(
  settings: Settings,
  log: Logger,
  opts: EvaluateOptions,
): Promise<EvaluateResult> {
  const dir = path.resolve(opts.out);
  fs.mkdirSync(dir, { recursive: true });
  let input = opts.input;
  let labelsFile = opts.labels;
  let data = `events ${input ?? '?'}, labels ${labelsFile ?? '?'}`;
  if (!input) {
    // Default: six hours of sessions ending a day ago (the SimulatedData fields say otherwise).
    const span = opts.spanMs ?? 6 * 3_600_000;
    const sim = simulateLabelled(opts, { spanMs: span, start: Date.now() - span - 86_400_000 });
    input = path.join(dir, 'events.jsonl');
    labelsFile = path.join(dir, 'labels.jsonl');
    await writeJsonl(input, sim.events);
    await writeLabels(labelsFile, sim.labels);
    data = `held-out split simulated by risk-stream: ${opts.sessions} sessions, seed ${opts.seed}, attack rate ${opts.attackRate}`;
  } else if (!labelsFile) {
    throw new Error('evaluate: --input needs --labels');
  }

  const version = opts.modelVersion ?? activeVersion(modelsDirOf(settings), settings.model.name);
  const evalSettings: Settings = { ...settings, model: { ...settings.model, version } };
  // The policy in force, except that a terminated session's later actions are still scored: the
  // event-level curves then measure the model on every action. The session-level figures do not
  // change (a session's first non-ALLOW, and whether it was terminated, are the same either way).
  const inForce = activePolicy(settings);
  const summary = await replay(evalSettings, log, {
    input,
    output: path.join(dir, 'decisions.jsonl'),
    deadLetter: path.join(dir, 'dead-letters.jsonl'),
    batchSize: 2000,
    policy: { ...inForce, friction: { ...inForce.friction, terminatedStaysTerminated: false } },
  });
  const decisions = new Map(
    readJsonLines<Decision>(path.join(dir, 'decisions.jsonl')).map((d) => [d.event_id, d]),
  );
  // In event-time order, so "the first attacker actions" means the first the engine saw.
  const labels = readJsonLines<EvalLabel>(labelsFile!)
    .map((l, i) => ({ l, i, ts: decisions.get(l.event_id)?.event_ts ?? 0 }))
    .sort((a, b) => a.ts - b.ts || a.i - b.i)
    .map((x) => x.l);
  const ev = evaluate(labels, decisions);

  const model = `${settings.model.name} ${version}`;
  const policy = activePolicy(settings);
  fs.writeFileSync(
    path.join(dir, 'roc.svg'),
    curveSvg(ev.roc, {
      title: `ROC, ${model}`,
      xLabel: 'false positive rate (benign events)',
      yLabel: 'true positive rate (attack events)',
      diagonal: true,
      note: `AUC ${ev.auc?.toFixed(4) ?? '-'}`,
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'pr.svg'),
    curveSvg(ev.pr, {
      title: `Precision-recall, ${model}`,
      xLabel: 'recall (attack events)',
      yLabel: 'precision',
      note: `AP ${ev.averagePrecision?.toFixed(4) ?? '-'}`,
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'scores.svg'),
    histogramSvg(ev.histogram.benign, ev.histogram.attack, {
      title: `Score distribution, ${model}`,
      thresholds: [
        ...policy.levels
          .filter((l) => l.level === 'high' || l.level === 'critical')
          .map((l) => ({ at: l.min, label: `${l.level} risk` })),
      ],
    }),
  );
  const metrics = { model, data, replay: summary, policy: policy.id, ...ev };
  fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  const md = reportMarkdown(ev, model, data, summary, settings);
  fs.writeFileSync(path.join(dir, 'report.md'), md);
  fs.writeFileSync(path.join(dir, 'index.html'), reportHtml(md, dir));
  if (opts.writeCard) {
    const folder = modelDir(modelsDirOf(settings), settings.model.name, version);
    const manifest = parseManifest(
      JSON.parse(fs.readFileSync(path.join(folder, MANIFEST_JSON), 'utf8')),
      path.join(folder, MANIFEST_JSON),
    );
    const card = path.join(folder, 'MODEL_CARD.md');
    fs.writeFileSync(card, modelCard(ev, manifest, data, settings));
    log.info({ card }, 'model card written');
  }
  return { evaluation: ev, replay: summary, dir, model };
}

function targetsTable(ev: Evaluation): string {
  return [
    '| target | measured | goal | met |',
    '| --- | ---: | --- | --- |',
    ...ev.targets.map((t) => `| ${t.name} | ${pct(t.value, 2)} | ${t.goal} | ${t.met ? 'yes' : '**no**'} |`),
  ].join('\n');
}

function detectionTable(ev: Evaluation): string {
  return [
    `| attack scenario | sessions | answered | within first ${ev.within} attacker actions | median actions to first answer |`,
    '| --- | ---: | ---: | ---: | ---: |',
    ...ev.attacks.map(
      (a) =>
        `| ${a.scenario} | ${a.sessions} | ${pct(a.detected / a.sessions)} | ${pct(a.detectedWithin / a.sessions)} | ${a.medianActionsToDetect ?? '-'} |`,
    ),
  ].join('\n');
}

function frictionTable(ev: Evaluation): string {
  const all = ev.benign.reduce(
    (t, b) => ({
      scenario: '**all benign**',
      sessions: t.sessions + b.sessions,
      withFriction: t.withFriction + b.withFriction,
      byModel: t.byModel + b.byModel,
      terminated: t.terminated + b.terminated,
    }),
    { scenario: '', sessions: 0, withFriction: 0, byModel: 0, terminated: 0 },
  );
  return [
    '| benign kind | sessions | with any friction | ... from the model score | terminated |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...[...ev.benign, all].map(
      (b) =>
        `| ${b.scenario} | ${b.sessions} | ${pct(b.withFriction / b.sessions, 2)} | ${pct(b.byModel / b.sessions, 2)} | ${pct(b.terminated / b.sessions, 2)} |`,
    ),
    '',
    '"From the model score": at least one of the session\'s non-ALLOW decisions was not forced by a',
    'policy rule that acts whatever the score (a record tier such as MASS_EXPORT in the policy catalog).',
  ].join('\n');
}

/** One paragraph on the policy a report's figures were measured with. */
function policySummary(p: CompiledPolicy): string {
  const floors = [...p.levels]
    .reverse()
    .map((l) => `${l.level} >= ${l.min}`)
    .join(', ');
  const row = (s: Sensitivity) => RISK_LEVELS.map((r) => `${r} ${p.responses[s][r]}`).join(', ');
  return `policy ${p.id} (${p.source}): risk levels ${floors}. Ordinary actions: ${row('none')}; sensitive (high) actions: ${row('high')}; critical ones (e.g. a mass export): ${row('critical')}. ${p.rules.length} rule(s), friction control on.`;
}

function reportMarkdown(
  ev: Evaluation,
  model: string,
  data: string,
  r: ReplaySummary,
  settings: Settings,
): string {
  return `# Evaluation: ${model}

Data: ${data}. ${ev.events.toLocaleString('en-US')} events scored (${ev.positives.toLocaleString('en-US')} attacker actions)${ev.undecided ? `, ${ev.undecided} labelled events not decided (dead-lettered input)` : ''}; replay ${Math.round(r.eventsPerSecond).toLocaleString('en-US')} events/s on ${r.backend}.

Event-level ROC AUC ${ev.auc?.toFixed(4) ?? '-'}, average precision ${ev.averagePrecision?.toFixed(4) ?? '-'}.

**Operating point** (the policy the engine enforces): ${policySummary(activePolicy(settings))}

## Targets

${targetsTable(ev)}

## Detection per attack scenario

"Answered": the session got STEP_UP, BLOCK_ACTION or TERMINATE on at least one attacker action.

${detectionTable(ev)}

## Friction for real users

${frictionTable(ev)}

## Charts

![ROC](roc.svg) ![Precision-recall](pr.svg) ![Score distribution](scores.svg)
`;
}

/** The same content as report.md, as a page with the charts inline. */
function reportHtml(md: string, dir: string): string {
  const body = md
    .split('\n\n')
    .map((block) => {
      if (block.startsWith('# ')) return `<h1>${block.slice(2)}</h1>`;
      if (block.startsWith('## ')) return `<h2>${block.slice(3)}</h2>`;
      if (block.startsWith('|')) {
        const rows = block.split('\n').filter((_, i) => i !== 1);
        return `<table>${rows
          .map((r, i) => {
            const cells = r
              .split('|')
              .slice(1, -1)
              .map((c) => c.trim().replace(/\*\*(.+?)\*\*/g, '<b>$1</b>'));
            const tag = i === 0 ? 'th' : 'td';
            return `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
          })
          .join('')}</table>`;
      }
      if (block.startsWith('![')) {
        return ['roc.svg', 'pr.svg', 'scores.svg']
          .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
          .join('');
      }
      return `<p>${block.replace(/\*\*(.+?)\*\*/g, '<b>$1</b>')}</p>`;
    })
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>risk-stream evaluation</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}svg{margin:4px}</style>
</head><body>${body}</body></html>\n`;
}

function trainingFacts(m: ModelManifest): string {
  const t = m.training;
  const testAuc = m.metrics.test.roc_auc;
  const lines = [
    `- Features: version ${m.feature_version}, ${m.features.length} inputs (names and order in manifest.json).`,
    `- Network: ${m.features.length} → ${(t.hidden ?? []).join(' → ')} → 1 (ReLU, sigmoid output).`,
    `- Data: ${t.data}; ${t.samples.toLocaleString('en-US')} actions, ${t.positives.toLocaleString('en-US')} attacker actions, ${t.sessions.toLocaleString('en-US')} sessions, split 70/15/15 by session (seed ${t.seed}).`,
    `- Loss: binary cross-entropy, class weights ${t.class_weight ? `${t.class_weight[0].toFixed(2)} / ${t.class_weight[1].toFixed(2)}` : 'none recorded'}; early stopping on validation loss (best epoch ${t.best_epoch ?? '?'} of ${t.epochs}).`,
    t.calibration
      ? `- Calibration: Platt scaling fitted on the validation split (a ${t.calibration.a.toFixed(3)}, b ${t.calibration.b.toFixed(3)}), ${t.calibration.applied === false ? 'not applied: it would have raised' : 'folded into the output layer;'} validation log loss ${t.calibration.val_log_loss_before.toFixed(5)} → ${t.calibration.val_log_loss_after.toFixed(5)}, expected calibration error ${t.calibration.val_ece_before.toFixed(5)} → ${t.calibration.val_ece_after.toFixed(5)}.`
      : '- Calibration: none.',
    `- Test split (same simulator seed, unseen sessions): ROC AUC ${testAuc?.toFixed(5) ?? '-'}, PR AUC ${m.metrics.test.pr_auc?.toFixed(5) ?? '-'}.`,
  ];
  return lines.join('\n');
}

function modelCard(ev: Evaluation, manifest: ModelManifest, data: string, settings: Settings): string {
  const model = `${manifest.name} ${manifest.version}`;
  return `# Model card: ${model}

**What it does.** Scores each action of an authenticated web/SaaS session for the risk that the
session token is being replayed or misused, from the session's window (fingerprint drift,
behaviour). The engine turns the score into ALLOW / STEP_UP / BLOCK_ACTION / TERMINATE with its
policy and explains non-ALLOW decisions with reason codes.

**Model.** TF.js Layers MLP trained by \`risk-stream train\` on the project's simulated, labelled
traffic. Its output is a calibrated probability that the action is an attacker's, at the training
mix's attack rate.

${trainingFacts(manifest)}

**Evaluated on.** ${data}; ${ev.events.toLocaleString('en-US')} events, ${ev.positives.toLocaleString('en-US')} attacker actions.
ROC AUC ${ev.auc?.toFixed(4) ?? '-'}, average precision ${ev.averagePrecision?.toFixed(4) ?? '-'} (event level).
Policy: ${policySummary(activePolicy(settings))}

${targetsTable(ev)}

${detectionTable(ev)}

${frictionTable(ev)}

**Known limits.**
- Trained and evaluated on simulated traffic only: real traffic drifts differently (carriers, VPN
  and SASE products, browser release cadence). Re-evaluate on labelled real traffic
  (\`evaluate --input --labels\`) before relying on the thresholds.
- The window is per session; there is no per-user history. A stolen cookie replayed through a
  residential proxy in the victim's own city, from an anti-detect browser that copies the
  User-Agent, TLS fingerprint and device id, differs from the victim moving to another network
  only in the ISP, so some such replays are answered late or not at all.
- A session that drifted for a benign reason (VPN toggled, carrier changed) and then does
  sensitive work looks like a takeover followed by its playbook; this is most of the benign
  friction the model causes.
- An insider's first small exports look like a contractor's ordinary ones; misuse is answered as
  the volume builds up, not on the first export.
- Network classes come from a table of well-known ASNs (\`features.networkClassFile\` extends it);
  an unlisted cloud or proxy network counts as an ISP.
- Scores are calibrated to the training mix (15% attack sessions); at a lower real attack rate the
  same score means a lower probability.
`;
}
