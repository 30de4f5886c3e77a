import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadSettings } from '../config/load';
import { parseDuration, type Settings } from '../config/schema';
import { RiskStreamError } from '../errors';
import { createLogger, type Logger } from '../log';
import { packageVersion } from '../paths';
import {
  activeVersion,
  defaultModelsDir,
  listVersions,
  setActive,
  setShadow,
  shadowVersion,
} from '../model/registry';
import { runDemo } from './demo';
import { formatReport } from './diagnose';
import { runDoctor } from './doctor';
import { runEvaluate } from './evaluate';
import { exportFeatures } from './features';
import { loadSimConfig } from '../sim/config';
import { replay } from './replay';
import { activePolicy } from './context';
import { formatPolicyTest, policyTest } from './policy';
import { loadPolicyFile } from '../policy/compile';
import { exportEvidence, formatVerify, parseTime, verifyEvidenceFile } from './evidence';
import { runEngine } from './run';
import { runSimulate } from './simulate';
import { importTrained, train, type SimulatedData } from './train';

const intArg = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return n;
};
const unitsArg = (v: string) => {
  const units = v.split(',').map(Number);
  if (!units.every((n) => Number.isInteger(n) && n >= 1 && n <= 1024)) {
    throw new InvalidArgumentError('expected layer sizes from 1 to 1024, comma-separated, e.g. 32,16');
  }
  return units;
};
const fractionArg = (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
};
const durationArg = (v: string) => {
  const ms = parseDuration(v);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration like 30s, 5m or 1h');
  return ms;
};

interface Global {
  config?: string;
  logLevel?: string;
}

/** Settings from defaults < config file < environment < these flag overrides. */
function settingsFor(
  cmd: Command,
  overrides: Record<string, Record<string, unknown>> = {},
): { settings: Settings; log: Logger } {
  const g = cmd.optsWithGlobals<Global>();
  const file = g.config ?? process.env.RISK_STREAM_CONFIG;
  const settings = loadSettings({
    ...(file ? { file } : {}),
    env: process.env,
    overrides: { ...overrides, ...(g.logLevel ? { log: { level: g.logLevel } } : {}) },
  });
  return { settings, log: createLogger(settings.log.level) };
}

export function buildProgram(): Command {
  const program = new Command('risk-stream')
    .description(
      'Real-time risk scoring for authenticated sessions: session actions in, ALLOW/STEP_UP/BLOCK_ACTION/TERMINATE out',
    )
    .version(packageVersion())
    .option('-c, --config <file>', 'JSON config file (env RISK_STREAM_CONFIG)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
    .showHelpAfterError();

  program
    .command('run')
    .description('the streaming engine: consume the actions topic, decide, produce decisions (Kafka + Redis)')
    .option('--brokers <list>', 'Kafka bootstrap brokers (kafka.brokers)')
    .option('--redis-url <url>', 'Redis URL (redis.url)')
    .option('--port <n>', 'HTTP port for /metrics, /healthz, /readyz (http.port)', intArg(0))
    .action(async (o: { brokers?: string; redisUrl?: string; port?: number }, cmd: Command) => {
      const { settings, log } = settingsFor(cmd, {
        kafka: { brokers: o.brokers },
        redis: { url: o.redisUrl },
        http: { port: o.port },
      });
      await runEngine(settings, log);
    });

  program
    .command('doctor')
    .description(
      'check what `run` needs (settings, Kafka and the topics, Redis, model, policy, CAEP receivers, HTTP port) and say what to fix; exit 1 if anything failed',
    )
    .option('--brokers <list>', 'Kafka bootstrap brokers (kafka.brokers)')
    .option('--redis-url <url>', 'Redis URL (redis.url)')
    .option('--port <n>', 'HTTP port (http.port)', intArg(0))
    .option('--timeout <d>', 'most time each network step may take', durationArg, 3000)
    .option('--json', 'print the results as JSON')
    .action(
      async (
        o: { brokers?: string; redisUrl?: string; port?: number; timeout: number; json?: boolean },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<Global>();
        const flags = { '--brokers': o.brokers, '--redis-url': o.redisUrl, '--port': o.port };
        const r = await runDoctor({
          load: () =>
            settingsFor(cmd, {
              kafka: { brokers: o.brokers },
              redis: { url: o.redisUrl },
              http: { port: o.port },
            }).settings,
          sources: {
            file: g.config ?? process.env.RISK_STREAM_CONFIG,
            env: Object.keys(process.env).filter(
              (k) => k.startsWith('RISK_STREAM_') && k !== 'RISK_STREAM_CONFIG',
            ),
            flags: Object.keys(flags).filter((f) => flags[f as keyof typeof flags] !== undefined),
          },
          timeoutMs: o.timeout,
        });
        // Exit once written: a check that ran out of time may have left a socket that keeps us alive.
        process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : formatReport(r), () =>
          process.exit(r.ok ? 0 : 1),
        );
      },
    );

  program
    .command('replay')
    .description(
      'backtest: SessionAction JSON Lines in, Decision JSON Lines out, with the streaming pipeline',
    )
    .requiredOption('-i, --input <file>', 'SessionAction JSON Lines')
    .requiredOption('-o, --output <file>', 'Decision JSON Lines (one per valid input line, ALLOW included)')
    .requiredOption('-d, --dead-letter <file>', 'invalid lines with their line number and reason')
    .option('--redis <url>', 'keep session windows in Redis instead of memory')
    .option('--evidence <file>', 'also write evidence records (hash-chained per session) as JSON Lines')
    .option('--batch-size <n>', 'lines per pipeline batch', intArg(1), 1000)
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        o: {
          input: string;
          output: string;
          deadLetter: string;
          evidence?: string;
          redis?: string;
          batchSize: number;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const { settings, log } = settingsFor(cmd);
        const s = await replay(settings, log, { ...o });
        if (o.json) {
          process.stdout.write(JSON.stringify(s) + '\n');
          return;
        }
        const d = s.decisions;
        process.stdout.write(
          [
            `replayed ${s.events} lines in ${s.seconds.toFixed(2)}s (${Math.round(s.eventsPerSecond)} events/s), model ${s.model} on ${s.backend}`,
            `decisions: ALLOW ${d.ALLOW}  STEP_UP ${d.STEP_UP}  BLOCK_ACTION ${d.BLOCK_ACTION}  TERMINATE ${d.TERMINATE}`,
            `dead letters: ${s.deadLetters}   duplicate events: ${s.duplicates}`,
            `decisions -> ${o.output}   dead letters -> ${o.deadLetter}`,
            '',
          ].join('\n'),
        );
      },
    );

  program
    .command('demo')
    .description(
      'the embedded demo: simulated traffic through the whole pipeline in one process, no Kafka or Redis',
    )
    .option('--duration <d>', 'stop after this long (e.g. 30s); default: until Ctrl-C', durationArg)
    .option('--rate <n>', 'simulated events per second', intArg(1), 300)
    .option('--attack-rate <f>', 'share of sessions that are token replays', fractionArg, 0.1)
    .option('--seed <n>', 'simulator seed', intArg(0), 7)
    .option(
      '--backlog <n>',
      'sessions of simulated history (the last 2 hours) to process first',
      intArg(0),
      300,
    )
    .option('--port <n>', 'HTTP port for /metrics and /healthz', intArg(0))
    .option('--no-view', 'no live view')
    .option(
      '--evidence <file>',
      'also write the evidence records as JSON Lines (for `evidence export --from`)',
    )
    .action(
      async (
        o: {
          evidence?: string;
          duration?: number;
          rate: number;
          attackRate: number;
          seed: number;
          backlog: number;
          port?: number;
          view: boolean;
        },
        cmd: Command,
      ) => {
        const { settings, log } = settingsFor(cmd, { http: { port: o.port } });
        await runDemo(settings, log, {
          ...(o.duration !== undefined ? { durationMs: o.duration } : {}),
          rate: o.rate,
          attackRate: o.attackRate,
          seed: o.seed,
          backlogSessions: o.backlog,
          view: o.view,
          out: process.stdout,
          ...(o.evidence !== undefined ? { evidenceFile: o.evidence } : {}),
        });
      },
    );

  withSimulation(
    program
      .command('simulate')
      .description('labelled session traffic (benign and token replay) as JSON Lines, or live to Kafka')
      .option('-o, --out <file>', 'SessionAction JSON Lines', 'events.jsonl')
      .option('--labels <file>', 'labels side file (event_id, label, scenario)')
      .option(
        '--start <iso>',
        'start of the traffic (default: the span ends one day ago, so no event lies ahead of now)',
      )
      .option('--span <d>', 'sessions start spread over this span', durationArg, 3_600_000),
    {
      sessions: [1, 1000, 'sessions to generate'],
      seed: [42, 'seed (same seed, same traffic)'],
      attackRate: 0.1,
    },
  )
    .option('--to-kafka', 'produce live to the actions topic instead of writing files')
    .option('--rate <n>', 'with --to-kafka: events per second', intArg(1), 200)
    .option('--limit <n>', 'with --to-kafka: stop after this many events', intArg(1))
    .addOption(
      new Option('--format <f>', 'with --to-kafka: wire format')
        .choices(['avro', 'confluent', 'json'])
        .default('avro'),
    )
    .action(
      async (
        o: {
          sessions: number;
          seed: number;
          attackRate: number;
          out: string;
          labels?: string;
          start?: string;
          span: number;
          simConfig?: string;
          toKafka?: boolean;
          rate: number;
          limit?: number;
          format: 'avro' | 'confluent' | 'json';
        },
        cmd: Command,
      ) => {
        const { settings, log } = settingsFor(cmd);
        const sim = simOptions(cmd, o);
        const span = cmd.getOptionValueSource('span') === 'cli' ? o.span : (sim.spanMs ?? o.span);
        const start = o.start ? Date.parse(o.start) : (sim.start ?? Date.now() - span - 86_400_000);
        if (Number.isNaN(start)) throw new InvalidArgumentError(`--start: not a date: ${o.start}`);
        const r = await runSimulate(settings, log, {
          ...o,
          ...sim,
          start,
          spanMs: span,
          toKafka: o.toKafka ?? false,
        });
        if (!o.toKafka)
          process.stdout.write(
            `wrote ${r.events} events to ${o.out}${o.labels ? `, labels to ${o.labels}` : ''}\n`,
          );
      },
    );

  withSimulation(
    program
      .command('train')
      .description('train a model on simulated labelled traffic, featurized by the engine itself'),
    { sessions: [100, 8000, 'simulated sessions'], seed: [1, 'seed'], attackRate: 0.15 },
  )
    .requiredOption('--model-version <v>', 'model version to write, e.g. 1.1.0')
    .option('--epochs <n>', 'maximum epochs (early stopping may end sooner)', intArg(1))
    .option('--hidden <units>', 'hidden layer sizes (default 32,16)', unitsArg)
    .addOption(
      new Option('--class-weighting <how>', 'weight of the rare class in the loss (default none)').choices([
        'sqrt',
        'balanced',
        'none',
      ]),
    )
    .option('--no-calibrate', 'skip Platt scaling on the validation split')
    .option('--activate', 'make it the active version')
    .action(
      async (
        o: {
          sessions: number;
          seed: number;
          attackRate: number;
          modelVersion: string;
          epochs?: number;
          hidden?: number[];
          classWeighting?: 'sqrt' | 'balanced' | 'none';
          calibrate: boolean;
          activate?: boolean;
          simConfig?: string;
        },
        cmd: Command,
      ) => {
        const { settings, log } = settingsFor(cmd);
        const sim = simOptions(cmd, o);
        const r = await train(settings, log, {
          ...o,
          ...sim,
          version: o.modelVersion,
          activate: o.activate ?? false,
        });
        process.stdout.write(`model written to ${r.dir}\n${JSON.stringify(r.metrics, null, 2)}\n`);
      },
    );

  withSimulation(
    program
      .command('evaluate')
      .description(
        'score labelled events with a model and write a report (charts, per-scenario detection, friction)',
      )
      .option('--input <file>', 'SessionAction JSON Lines (default: simulate a held-out split)')
      .option('--labels <file>', 'labels of --input (event_id, session_id, label, scenario)'),
    {
      sessions: [10, 4000, 'held-out split: simulated sessions'],
      seed: [1001, 'held-out split: seed (training uses 1)'],
      attackRate: 0.15,
      prefix: 'held-out split: ',
    },
  )
    .option('--model-version <v>', 'version to evaluate (default: the active one)')
    .option('--out <dir>', 'report folder', 'report')
    .option('--write-card', "write MODEL_CARD.md into the model's folder")
    .action(
      async (
        o: {
          input?: string;
          labels?: string;
          sessions: number;
          seed: number;
          attackRate: number;
          modelVersion?: string;
          out: string;
          writeCard?: boolean;
          simConfig?: string;
        },
        cmd: Command,
      ) => {
        const { settings, log } = settingsFor(cmd);
        const sim = simOptions(cmd, o);
        const r = await runEvaluate(settings, log, {
          ...o,
          ...sim,
          writeCard: o.writeCard ?? false,
        });
        const lines = r.evaluation.targets.map(
          (t) =>
            `  ${t.met ? 'met    ' : 'NOT MET'} ${t.name}: ${(100 * t.value).toFixed(2)}% (goal ${t.goal})`,
        );
        process.stdout.write(
          `${r.model}: AUC ${r.evaluation.auc?.toFixed(4) ?? '-'}, AP ${r.evaluation.averagePrecision?.toFixed(4) ?? '-'}\n` +
            `${lines.join('\n')}\nreport: ${path.join(r.dir, 'index.html')}\n`,
        );
      },
    );

  withSimulation(
    program
      .command('features')
      .description("the engine's feature rows for labelled events, as CSV (to train elsewhere, e.g. Keras)")
      .option('--input <file>', 'SessionAction JSON Lines (default: simulate)')
      .option('--labels <file>', 'labels of --input'),
    { sessions: [1, 8000, 'simulated sessions'], seed: [1, 'seed'], attackRate: 0.15 },
  )
    .option('-o, --out <file>', 'CSV to write', 'features.csv')
    .action(
      async (
        o: {
          input?: string;
          labels?: string;
          sessions: number;
          seed: number;
          attackRate: number;
          simConfig?: string;
          out: string;
        },
        cmd: Command,
      ) => {
        const { settings } = settingsFor(cmd);
        const sim = simOptions(cmd, o);
        const r = await exportFeatures(settings, {
          ...o,
          ...sim,
        });
        process.stdout.write(`wrote ${r.rows} feature rows to ${o.out}\n`);
      },
    );

  const models = program.command('models').description('the model registry (models/<name>/<version>/)');
  models
    .command('list')
    .description('versions of the configured model; * marks the active one, (shadow) the shadow one')
    .action((_o: unknown, cmd: Command) => {
      const { settings } = settingsFor(cmd);
      const dir = settings.model.dir ?? defaultModelsDir();
      const active = activeVersion(dir, settings.model.name);
      const shadow = shadowVersion(dir, settings.model.name);
      for (const v of listVersions(dir, settings.model.name))
        process.stdout.write(
          `${v === active ? '*' : ' '} ${settings.model.name} ${v}${v === shadow ? '  (shadow)' : ''}\n`,
        );
    });
  models
    .command('shadow [version]')
    .description('score <version> alongside the active model, never enforced (--off: stop)')
    .option('--off', 'no shadow model')
    .action((version: string | undefined, o: { off?: boolean }, cmd: Command) => {
      const { settings } = settingsFor(cmd);
      if (!o.off && version === undefined)
        throw new RiskStreamError('CONFIG_INVALID', 'models shadow: give a version, or --off');
      setShadow(settings.model.dir ?? defaultModelsDir(), settings.model.name, o.off ? null : version!);
      process.stdout.write(
        o.off
          ? `${settings.model.name}: no shadow model\n`
          : `${settings.model.name} ${version} is now the shadow model\n`,
      );
    });
  withSimulation(
    models
      .command('import <dir>')
      .description(
        'register a TF.js Layers model trained elsewhere (e.g. Keras + tensorflowjs_converter): checks its input ' +
          "against the engine's features, measures it on simulated labelled traffic, writes the manifest",
      )
      .requiredOption('--model-version <v>', 'version to register it as'),
    {
      sessions: [100, 2000, 'simulated sessions to measure it on'],
      seed: [2, 'seed of that traffic and of the validation/test split'],
      attackRate: 0.15,
    },
  )
    .option('--activate', 'make it the active version')
    .action(
      async (
        dir: string,
        o: {
          modelVersion: string;
          sessions: number;
          seed: number;
          attackRate: number;
          simConfig?: string;
          activate?: boolean;
        },
        cmd: Command,
      ) => {
        const { settings, log } = settingsFor(cmd);
        const sim = simOptions(cmd, o);
        const r = await importTrained(settings, log, {
          ...sim,
          from: dir,
          version: o.modelVersion,
          activate: o.activate ?? false,
        });
        const t = r.manifest.metrics.test;
        process.stdout.write(
          `${settings.model.name} ${o.modelVersion} written to ${r.dir}: test ROC AUC ${t.roc_auc ?? '-'}, PR AUC ${t.pr_auc ?? '-'}\n`,
        );
      },
    );
  models
    .command('promote <version>')
    .description('make <version> the active model')
    .action((version: string, _o: unknown, cmd: Command) => {
      const { settings } = settingsFor(cmd);
      setActive(settings.model.dir ?? defaultModelsDir(), settings.model.name, version);
      process.stdout.write(`${settings.model.name} ${version} is now active\n`);
    });

  const evidence = program
    .command('evidence')
    .description('audit evidence: export hash-chained records of sessions, verify an export');
  evidence
    .command('export')
    .description(
      "write the evidence records of the matching sessions' chains (whole chains) as JSON Lines, from the audit topic",
    )
    .option('--session <id>', 'this session')
    .option('--user <id>', "this user's sessions")
    .option('--since <time>', 'chains with a record decided at or after this (epoch ms or ISO 8601)')
    .option('--until <time>', 'chains with a record decided before this')
    .option('--from <file>', 'read evidence JSON Lines (e.g. from `replay --evidence`) instead of Kafka')
    .option('-o, --out <file>', 'write here instead of stdout')
    .option('--timeout <d>', 'most time to read the audit topic to its end', durationArg, 120_000)
    .action(
      async (
        o: {
          session?: string;
          user?: string;
          since?: string;
          until?: string;
          from?: string;
          out?: string;
          timeout: number;
        },
        cmd: Command,
      ) => {
        if (!o.session && !o.user && !o.since && !o.until) {
          throw new RiskStreamError(
            'CONFIG_INVALID',
            'evidence export: give --session, --user, --since or --until (what to export)',
          );
        }
        const { settings, log } = settingsFor(cmd);
        const s = await exportEvidence(settings, log, {
          ...(o.session !== undefined ? { session: o.session } : {}),
          ...(o.user !== undefined ? { user: o.user } : {}),
          ...(o.since !== undefined ? { since: parseTime(o.since, '--since') } : {}),
          ...(o.until !== undefined ? { until: parseTime(o.until, '--until') } : {}),
          ...(o.from !== undefined ? { from: o.from } : {}),
          ...(o.out !== undefined ? { out: o.out } : {}),
          timeoutMs: o.timeout,
        });
        process.stderr.write(
          `evidence export: ${s.written} record(s) of ${s.sessions} session(s) in ${s.chains} chain(s) ` +
            `(read ${s.read}${s.unreadable > 0 ? `, ${s.unreadable} unreadable` : ''} from ${s.source})` +
            `${o.out ? ` -> ${o.out}` : ''}\n`,
        );
        if (s.written === 0) process.exitCode = 4;
      },
    );
  evidence
    .command('verify <file>')
    .description('check an export: every record unaltered, every chain complete; says where it breaks')
    .option('--json', 'print the report as JSON')
    .action((file: string, o: { json?: boolean }) => {
      const r = verifyEvidenceFile(file);
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatVerify(file, r));
      if (!r.ok) process.exitCode = 5;
    });

  const policy = program
    .command('policy')
    .description('the policy file: show, check, and test a candidate against recorded actions');
  policy
    .command('show')
    .description(
      'print the policy in force (policy.file, or the built-in one): a starting point for your own',
    )
    .action((_o: unknown, cmd: Command) => {
      const { settings } = settingsFor(cmd);
      const p = activePolicy(settings);
      process.stderr.write(`# ${p.id} (${p.source})\n`);
      process.stdout.write(p.text);
    });
  policy
    .command('check <file>')
    .description('validate a policy file; errors name the line and the setting')
    .action((file: string) => {
      const p = loadPolicyFile(file);
      process.stdout.write(
        `${file}: valid, ${p.id}: ${p.catalog.size} catalog app(s), ${p.rules.length} rule(s)\n`,
      );
    });
  policy
    .command('test')
    .description(
      'which decisions a candidate policy would change against the one in force, on recorded actions (the whole pipeline, friction control included)',
    )
    .requiredOption('--policy <file>', 'the candidate policy (YAML or JSON)')
    .requiredOption('-i, --input <file>', 'SessionAction JSON Lines (e.g. from `risk-stream simulate`)')
    .option('--against <file>', 'compare with this policy instead of the one in force')
    .option('-o, --out <file>', 'write every changed decision pair as JSON Lines')
    .option('--show <n>', 'changes to print', intArg(0), 10)
    .option('--json', 'print the report as JSON')
    .option('--fail-on-change', 'exit with status 3 when any decision changes (for CI)')
    .action(
      async (
        o: {
          policy: string;
          input: string;
          against?: string;
          out?: string;
          show: number;
          json?: boolean;
          failOnChange?: boolean;
        },
        cmd: Command,
      ) => {
        const { settings, log } = settingsFor(cmd);
        const r = await policyTest(settings, log, {
          policy: o.policy,
          input: o.input,
          ...(o.against ? { against: o.against } : {}),
          ...(o.out ? { out: o.out } : {}),
        });
        process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : formatPolicyTest(r, o.show));
        if (o.failOnChange && r.changed > 0) process.exitCode = 3;
      },
    );

  return program;
}

interface SimulationFlags {
  /** Minimum, default and description of --sessions. */
  sessions: [number, number, string];
  /** Default and description of --seed. */
  seed: [number, string];
  attackRate: number;
  /** Put before "share of attack sessions". */
  prefix?: string;
}

/** The flags of every command that simulates traffic: --sessions, --seed, --attack-rate, --sim-config. */
function withSimulation(cmd: Command, flags: SimulationFlags): Command {
  return cmd
    .option('--sessions <n>', flags.sessions[2], intArg(flags.sessions[0]), flags.sessions[1])
    .option('--seed <n>', flags.seed[1], intArg(0), flags.seed[0])
    .option(
      '--attack-rate <f>',
      `${flags.prefix ?? ''}share of attack sessions`,
      fractionArg,
      flags.attackRate,
    )
    .option(
      '--sim-config <file>',
      'simulation file (sessions, seed, attackRate, mix, start, span); flags override it',
    );
}

/**
 * Sessions, seed, attack rate and mix for a simulating command: a flag given on the command line
 * wins, then the --sim-config file, then the flag's default. `file` has the rest (start, span).
 */
function simOptions(
  cmd: Command,
  o: { simConfig?: string; sessions: number; seed: number; attackRate: number },
): SimulatedData {
  const file = o.simConfig ? loadSimConfig(o.simConfig) : {};
  const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
  return {
    sessions: given('sessions') ? o.sessions : (file.sessions ?? o.sessions),
    seed: given('seed') ? o.seed : (file.seed ?? o.seed),
    attackRate: given('attackRate') ? o.attackRate : (file.attackRate ?? o.attackRate),
    ...(file.mix ? { mix: file.mix } : {}),
    ...(file.start ? { start: Date.parse(file.start) } : {}),
    ...(file.spanMs ? { spanMs: file.spanMs } : {}),
  };
}

/** Entry point (bin/risk-stream.js). The only place that turns errors into exit codes. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    // Exit now: a failed start-up may leave a client or a timer behind that would keep us alive.
    if (err instanceof RiskStreamError) {
      process.stderr.write(`risk-stream: ${err.message}\n`);
      process.exit(err.code === 'CONFIG_INVALID' || err.code === 'POLICY_INVALID' ? 2 : 1);
    }
    process.stderr.write(`risk-stream: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
}
