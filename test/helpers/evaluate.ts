import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ClientInfo, Decision, SessionAction } from '../../src/contract';

/** The session's owner: a laptop on a home broadband line. */
export const VICTIM: ClientInfo = {
  ip: '73.22.10.5',
  asn: 7922,
  country: 'US',
  lat: 40.71,
  lon: -74.0,
  user_agent:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  ja4: 't13d1516h2_8daaf6152771_02713d6af862',
  device_id: 'dev-victim',
  accept_language: 'en-US',
};

/** The same session token replayed by a script from a hosting network abroad. */
export const ATTACKER: ClientInfo = {
  ip: '45.77.1.9',
  asn: 20473,
  country: 'NL',
  lat: 52.37,
  lon: 4.89,
  user_agent: 'python-requests/2.31.0',
  ja4: 't13d1711h2_5b57614c22b0_3d5424432f57',
  device_id: null,
  accept_language: null,
};

/**
 * A user's actions on the toy CRM, each `stepMs` after the one before (one clock for all the
 * user's sessions), the first `stepMs` after `startTs`. A login carries a passed MFA.
 */
export function actionClock(user: string, startTs: number, stepMs: number) {
  let clock = startTs;
  return (
    session: string,
    client: ClientInfo,
    action = 'view',
    records: number | null = null,
  ): SessionAction => {
    clock += stepMs;
    return {
      event_id: randomUUID(),
      ts: clock,
      session_id: session,
      user_id: user,
      principal_type: 'EMPLOYEE',
      app: 'toy-crm',
      action,
      resource: null,
      records,
      mfa: action === 'login' ? true : null,
      client,
    };
  };
}

/** POST /v1/evaluate with a JSON body (a string is sent as it is) and these headers. */
export function postEvaluate(
  base: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(`${base}/v1/evaluate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The engine's decision on an action through POST /v1/evaluate, which must answer 200. */
export async function decideInline(base: string, token: string, action: SessionAction): Promise<Decision> {
  const res = await postEvaluate(base, action, { authorization: `Bearer ${token}` });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Decision;
}
