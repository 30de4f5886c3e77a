import type { FastifyInstance } from 'fastify';
import type { CaepTransmitter } from './transmitter';

/**
 * The transmitter's discovery endpoints (Shared Signals 1.0 §7): receivers read the configuration,
 * follow its jwks_uri and verify SETs with the keys there.
 */
export function registerCaepRoutes(app: FastifyInstance, t: CaepTransmitter): void {
  app.get('/.well-known/ssf-configuration', (_req, reply) => {
    reply.header('cache-control', 'max-age=300');
    return t.configuration();
  });
  app.get('/.well-known/jwks.json', (_req, reply) => {
    reply.header('cache-control', 'max-age=300');
    reply.type('application/jwk-set+json');
    return JSON.stringify(t.jwks());
  });
}
