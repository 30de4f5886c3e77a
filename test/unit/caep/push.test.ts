import assert from 'node:assert/strict';
import { SET_CONTENT_TYPE, classifyResponse, pushSet } from '../../../src/caep/push';

describe('caep/push', () => {
  it('counts any 2xx as delivered', () => {
    for (const status of [200, 202, 204])
      assert.deepEqual(classifyResponse(status, ''), { outcome: 'delivered', status });
  });

  it('treats a 400 with the RFC 8935 error object as a permanent rejection', () => {
    assert.deepEqual(classifyResponse(400, '{"err":"invalid_audience","description":"wrong aud"}'), {
      outcome: 'rejected',
      status: 400,
      err: 'invalid_audience',
      description: 'wrong aud',
    });
    assert.deepEqual(classifyResponse(400, '{"err":"invalid_key"}'), {
      outcome: 'rejected',
      status: 400,
      err: 'invalid_key',
      description: '',
    });
  });

  it('counts a 400 "duplicate jti" as delivered: jtis are deterministic, so the receiver has this SET', () => {
    for (const description of [
      'duplicate jti',
      'Duplicate JTI 1234',
      'jti already received',
      'jti replay detected',
    ]) {
      assert.deepEqual(classifyResponse(400, JSON.stringify({ err: 'invalid_request', description })), {
        outcome: 'delivered',
        status: 400,
        duplicate: true,
      });
    }
    // other invalid_request reasons, or a duplicate named under another code, stay rejections
    for (const [err, description] of [
      ['invalid_request', 'duplicate claim aud'],
      ['invalid_request', 'event needs namespace'],
      ['invalid_key', 'duplicate jti'],
    ]) {
      assert.equal(
        classifyResponse(400, JSON.stringify({ err, description })).outcome,
        'rejected',
        description,
      );
    }
  });

  it('retries everything else: 5xx, 429, other 4xx, a 400 without the error object', () => {
    for (const [status, body] of [
      [503, ''],
      [500, 'boom'],
      [429, ''],
      [401, '{"err":"authentication_failed"}'],
      [404, 'not found'],
      [400, '<html>bad request</html>'],
      [400, '{"error":"x"}'],
      [302, ''],
    ] as const) {
      const r = classifyResponse(status, body);
      assert.equal(r.outcome, 'failed', `${status} ${body}`);
    }
    assert.deepEqual(classifyResponse(503, ' busy '), {
      outcome: 'failed',
      status: 503,
      error: 'HTTP 503: busy',
    });
  });

  it('POSTs the SET with the RFC 8935 headers and the receiver authorization', async () => {
    let seen: { url: string; init: RequestInit } | undefined;
    const fakeFetch = (async (url: string, init: RequestInit) => {
      seen = { url, init };
      return new Response(null, { status: 202 });
    }) as unknown as typeof fetch;
    const r = await pushSet(fakeFetch, {
      url: 'http://r/events',
      jws: 'a.b.c',
      authorization: 'Bearer t',
      timeoutMs: 1000,
    });
    assert.deepEqual(r, { outcome: 'delivered', status: 202 });
    assert.equal(seen?.url, 'http://r/events');
    assert.equal(seen?.init.method, 'POST');
    assert.equal(seen?.init.body, 'a.b.c');
    assert.deepEqual(seen?.init.headers, {
      'content-type': SET_CONTENT_TYPE,
      accept: 'application/json',
      authorization: 'Bearer t',
    });
  });

  it('turns network errors and timeouts into failures, never throws', async () => {
    const refused = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }) as unknown as typeof fetch;
    assert.deepEqual(await pushSet(refused, { url: 'http://r', jws: 'x', timeoutMs: 10 }), {
      outcome: 'failed',
      status: null,
      error: 'fetch failed: ECONNREFUSED',
    });
    const slow = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
      })) as unknown as typeof fetch;
    assert.deepEqual(await pushSet(slow, { url: 'http://r', jws: 'x', timeoutMs: 20 }), {
      outcome: 'failed',
      status: null,
      error: 'no answer within 20 ms',
    });
  });
});
