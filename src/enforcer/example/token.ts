import { createHmac, timingSafeEqual } from 'node:crypto';
import { PRINCIPAL_TYPES, type PrincipalType } from '../../contract';

/**
 * The toy app's session token: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`. The proxy
 * holds the same secret and verifies it, so a forged token cannot put actions on another session's
 * record (or get it blocked). A real deployment would verify the IdP's JWT the same way.
 */
export interface TokenClaims {
  /** Session id: what SessionAction.session_id carries. */
  sid: string;
  /** User id. */
  sub: string;
  typ: PrincipalType;
  /** Whether the login performed MFA. */
  mfa: boolean;
  /** Issued at, epoch millis. */
  iat: number;
}

const mac = (payload: string, secret: string) => createHmac('sha256', secret).update(payload).digest();

export function signToken(claims: TokenClaims, secret: string): string {
  const payload = `v1.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${payload}.${mac(payload, secret).toString('base64url')}`;
}

/** The claims of a token signed with `secret`, or null for anything else. */
export function verifyToken(token: string, secret: string): TokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== 'v1') return null;
  const given = Buffer.from(parts[2]!, 'base64url');
  const expected = mac(`${parts[0]}.${parts[1]}`, secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Partial<TokenClaims>;
    const ok =
      typeof c.sid === 'string' &&
      typeof c.sub === 'string' &&
      (PRINCIPAL_TYPES as readonly unknown[]).includes(c.typ) &&
      typeof c.mfa === 'boolean' &&
      typeof c.iat === 'number';
    return ok ? (c as TokenClaims) : null;
  } catch {
    return null;
  }
}

/** The token of an `authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | null {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}
