/**
 * One RFC 8935 push: POST the compact SET, read the answer. Classifies it and nothing else: what
 * the transmitter does with the result is up to it.
 */

/** The content type of a pushed SET (RFC 8417 §2.3). */
export const SET_CONTENT_TYPE = 'application/secevent+jwt';

/** What one push came to. */
export type PushResult =
  /**
   * Any 2xx (RFC 8935 says 202): the receiver has the SET. Also a 400 saying the jti is a
   * duplicate (`duplicate: true`): jtis are deterministic, so the receiver has this very SET, from
   * an earlier push whose answer was lost (a timeout) or from another instance after a lease ran out.
   */
  | { outcome: 'delivered'; status: number; duplicate?: true }
  /** 400 with the RFC 8935 §2.3 error object: the receiver will never accept this SET. */
  | { outcome: 'rejected'; status: number; err: string; description: string }
  /** Anything else (network error, timeout, 5xx, 429, other 4xx, a 400 without an error object). */
  | { outcome: 'failed'; status: number | null; error: string };

/**
 * How receivers word "this jti was received before". RFC 8935 has no error code for it (they send
 * invalid_request), so the description is all there is to go on.
 */
const DUPLICATE_JTI = /duplicate\b.*\bjti|\bjti\b.*\b(duplicate|already|replay)/i;

/** Longest part of a response body kept in an error message. */
const MAX_BODY_IN_ERROR = 200;

/** What a receiver's answer means for the SET. */
export function classifyResponse(status: number, body: string): PushResult {
  if (status >= 200 && status < 300) return { outcome: 'delivered', status };
  if (status === 400) {
    try {
      const parsed = JSON.parse(body) as unknown;
      if (
        typeof parsed === 'object' &&
        parsed !== null &&
        typeof (parsed as { err?: unknown }).err === 'string'
      ) {
        const { err, description: d } = parsed as { err: string; description?: unknown };
        const description = typeof d === 'string' ? d : '';
        if (err === 'invalid_request' && DUPLICATE_JTI.test(description)) {
          return { outcome: 'delivered', status, duplicate: true };
        }
        return { outcome: 'rejected', status, err, description };
      }
    } catch {
      // not the RFC 8935 error object: maybe a proxy's page; treated as a transient failure
    }
  }
  const text = body.trim().slice(0, MAX_BODY_IN_ERROR);
  return { outcome: 'failed', status, error: `HTTP ${status}${text ? `: ${text}` : ''}` };
}

/** One push: where, what, and how long to wait for the answer. */
export interface PushRequest {
  url: string;
  /** The compact JWS. */
  jws: string;
  authorization?: string | undefined;
  timeoutMs: number;
}

function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  const message = err instanceof Error ? err.message : String(err);
  const detail = cause?.code ?? cause?.message;
  return detail ? `${message}: ${detail}` : message;
}

/** POSTs one SET. Never throws: a network error or timeout is a `failed` result. */
export async function pushSet(fetchImpl: typeof fetch, req: PushRequest): Promise<PushResult> {
  const headers: Record<string, string> = { 'content-type': SET_CONTENT_TYPE, accept: 'application/json' };
  if (req.authorization !== undefined) headers.authorization = req.authorization;
  try {
    const res = await fetchImpl(req.url, {
      method: 'POST',
      headers,
      body: req.jws,
      // A redirect would turn the POST into a GET; an unexpected 3xx is a failure to retry.
      redirect: 'manual',
      signal: AbortSignal.timeout(req.timeoutMs),
    });
    return classifyResponse(res.status, await res.text());
  } catch (err) {
    return { outcome: 'failed', status: null, error: describeError(err, req.timeoutMs) };
  }
}
