import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaSasl, SaslMechanism } from '../../src/config/connections';
import { ROOT } from './cli';
import { freePort, waitUntil } from './services';

/** The broker jars scripts/kafka.sh fetches (`scripts/kafka.sh fetch`). */
const LIBS = join(process.env.KAFKA_CACHE_DIR ?? join(ROOT, '.cache/kafka'), 'libs');

/** Why a private broker cannot be started here (no java, no jars), or null when it can. */
export function saslBrokerUnavailable(): string | null {
  if (!existsSync(join(LIBS, '.fetched'))) return `no Kafka jars in ${LIBS} (scripts/kafka.sh fetch)`;
  if (spawnSync('java', ['-version']).status !== 0) return 'no java on the PATH';
  return null;
}

export interface SaslUser {
  name: string;
  password: string;
}

export interface SaslBroker {
  /** 127.0.0.1:<port>, a SASL_PLAINTEXT listener. */
  readonly bootstrap: string;
  /** A kafkajs client of the test, logged in as `user` with `mechanism`. */
  kafka(user: SaslUser, mechanism?: SaslMechanism): Kafka;
  /** Stops the broker (SIGTERM, SIGKILL after 20 s) and deletes its folder. */
  stop(): Promise<void>;
}

/**
 * A throwaway single-node KRaft broker of the test's own (never the shared one) whose only client
 * listener is SASL_PLAINTEXT, with SCRAM-SHA-256 and SCRAM-SHA-512 credentials for `user` (set when
 * the storage is formatted) and PLAIN for `user` too. About 15 s to start on two cores.
 */
export async function startSaslBroker(user: SaslUser): Promise<SaslBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'rs-kafka-sasl-'));
  const [port, controller] = [await freePort(), await freePort()];
  const bootstrap = `127.0.0.1:${port}`;
  const jaas = (loginModule: string, extra = '') =>
    `org.apache.kafka.common.security.${loginModule} required username="broker" password="broker-pass"${extra};`;
  writeFileSync(
    join(dir, 'server.properties'),
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=SASL_PLAINTEXT://${bootstrap},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=SASL_PLAINTEXT://${bootstrap}`,
      'listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=SASL_PLAINTEXT',
      'sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN',
      'sasl.mechanism.inter.broker.protocol=PLAIN',
      `listener.name.sasl_plaintext.plain.sasl.jaas.config=${jaas(
        'plain.PlainLoginModule',
        ` user_broker="broker-pass" user_${user.name}="${user.password}"`,
      )}`,
      'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      `log.dirs=${join(dir, 'data')}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'default.replication.factor=1',
      'min.insync.replicas=1',
      'num.partitions=1',
      'group.initial.rebalance.delay.ms=0',
      'num.network.threads=1',
      'num.io.threads=2',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'log4j.properties'),
    [
      'log4j.rootLogger=INFO, f',
      'log4j.appender.f=org.apache.log4j.FileAppender',
      `log4j.appender.f.File=${join(dir, 'server.log')}`,
      'log4j.appender.f.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.f.layout.ConversionPattern=[%d] %p %m (%c)%n',
      '',
    ].join('\n'),
  );
  const java = [
    '-Xms128m',
    '-Xmx384m',
    '-XX:+UseSerialGC',
    `-Dlog4j.configuration=file:${dir}/log4j.properties`,
  ];
  // A Kafka cluster id: 16 random bytes, base64url (one not starting with '-', an option to the tool).
  let clusterId: string;
  do clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-'));
  const scram = (m: string) => `${m}=[name=${user.name},password=${user.password}]`;
  const format = spawnSync(
    'java',
    [
      ...java,
      '-cp',
      `${LIBS}/*`,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      join(dir, 'server.properties'),
      '--add-scram',
      scram('SCRAM-SHA-256'),
      '--add-scram',
      scram('SCRAM-SHA-512'),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (format.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`kafka storage format failed:\n${format.stdout}${format.stderr}`);
  }
  const server: ChildProcess = spawn(
    'java',
    [...java, '-cp', `${LIBS}/*`, 'kafka.Kafka', join(dir, 'server.properties')],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const kafka = (u: SaslUser, mechanism: SaslMechanism = 'scram-sha-256') => {
    const sasl: KafkaSasl = { mechanism, username: u.name, password: u.password };
    return new Kafka({
      clientId: 'risk-stream-test',
      brokers: [bootstrap],
      logLevel: logLevel.NOTHING,
      sasl,
    });
  };
  const log = join(dir, 'server.log');
  const started = await waitUntil(
    async () => {
      if (!existsSync(log) || !readFileSync(log, 'utf8').includes('Kafka Server started')) return false;
      const admin = kafka(user).admin();
      try {
        await admin.connect();
        return (await admin.describeCluster()).brokers.length > 0;
      } finally {
        await admin.disconnect();
      }
    },
    { timeoutMs: 90_000, intervalMs: 500, giveUpIf: () => server.exitCode !== null },
  );
  if (!started) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') : '';
    await stop();
    throw new Error(`the private SASL broker did not start on ${bootstrap}:\n${tail}`);
  }
  return { bootstrap, kafka, stop };
}
