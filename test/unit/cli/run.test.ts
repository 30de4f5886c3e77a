import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka, kafkaClientConfig } from '../../../src/cli/run';
import { loadSettings } from '../../../src/config/load';
import { silentLogger } from '../../../src/log';

/**
 * The Kafka client configuration every client of the engine is built from (createKafka, and the
 * producer thread, which gets kafkaClientConfig as is): brokers and timeouts, TLS and SASL.
 */
describe('cli/run: the Kafka client configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rs-run-kafka-'));
  const passwordFile = join(dir, 'sasl-password');
  writeFileSync(passwordFile, 'file-pass-0123456789\n');
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');

  it('plaintext by default: no ssl or sasl key at all', () => {
    const config = kafkaClientConfig(loadSettings({ env: {} }).kafka);
    assert.deepEqual(config, {
      clientId: 'risk-stream',
      brokers: ['127.0.0.1:9092'],
      connectionTimeout: 5000,
      retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
    });
  });

  it('SASL and TLS from the settings, as kafkajs takes them', () => {
    const config = kafkaClientConfig(
      loadSettings({
        env: {
          RISK_STREAM_KAFKA_BROKERS: 'k1:9094,k2:9094',
          RISK_STREAM_KAFKA_SSL: 'true',
          RISK_STREAM_KAFKA_SSL_CA: ca,
          RISK_STREAM_KAFKA_SASL_MECHANISM: 'scram-sha-512',
          RISK_STREAM_KAFKA_SASL_USERNAME: 'risk',
          RISK_STREAM_KAFKA_SASL_PASSWORD_FILE: passwordFile,
        },
      }).kafka,
    );
    assert.deepEqual(config.brokers, ['k1:9094', 'k2:9094']);
    assert.deepEqual(config.ssl, { ca: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n' });
    assert.deepEqual(config.sasl, {
      mechanism: 'scram-sha-512',
      username: 'risk',
      password: 'file-pass-0123456789',
    });
    // The producer thread gets this through postMessage: it must survive a structured clone.
    assert.deepEqual(structuredClone(config), config);
  });

  it('createKafka with kafka.ssl opens its connections with a TLS handshake', async () => {
    const firstBytes = new Promise<Buffer>((resolve) => {
      const server = createServer((socket: Socket) => {
        socket.once('data', (chunk: Buffer) => {
          resolve(chunk);
          socket.destroy();
          server.close();
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        const kafka = createKafka(
          loadSettings({
            env: {
              RISK_STREAM_KAFKA_BROKERS: `127.0.0.1:${port}`,
              RISK_STREAM_KAFKA_SSL: 'true',
              RISK_STREAM_KAFKA_CONNECTION_TIMEOUT: '1s',
            },
          }),
          silentLogger(),
        );
        const admin = kafka.admin({ retry: { retries: 0 } });
        admin.connect().then(
          () => admin.disconnect(),
          () => undefined,
        );
      });
    });
    const chunk = await firstBytes;
    // A TLS record of type handshake (0x16), version 3.x: a ClientHello, not a Kafka request.
    assert.equal(chunk[0], 0x16);
    assert.equal(chunk[1], 0x03);
  });
});
