/**
 * Types of jwtguard.js, the browser helper of jwtguard (UMD: a <script> tag sets
 * `window.JWTGuard`; CommonJS gets `module.exports`). jwtguard.d.mts re-exports them
 * for jwtguard.mjs, the ES module build. Kept by hand beside the JavaScript;
 * tests/test_helper_build.py checks that every name the helper has appears here.
 */

/**
 * Why the session ended. From a refused API answer: the guard's own reason (`revoked`: logged out
 * everywhere or password changed; `disabled`; `unknown_user`; `session_revoked`: this session was
 * ended, e.g. from another device or after a refresh token's reuse; `expired` when there is no
 * refresh to be had; `invalid`), or `disabled` / `invalid_token` when the answer's body is
 * unreadable (only its headers tell). From a refused refresh (POST /token): `invalid_grant`, or
 * the error code it answered. With DPoP, `dpop_key_lost`: a DPoP token is stored but this
 * browser's key is gone (IndexedDB cleared). Other reasons the server names come through as they
 * are. DPoP's refusals (`invalid_dpop_proof`, `use_dpop_nonce`, `dpop_binding`, `dpop_required`)
 * end no session.
 */
export type LogoutReason =
  | "revoked"
  | "disabled"
  | "unknown_user"
  | "session_revoked"
  | "expired"
  | "invalid"
  | "invalid_token"
  | "invalid_grant"
  | "dpop_key_lost"
  | (string & {});

/** What onLogout gets beside the reason: the answer that ended the session. */
export interface LogoutDetail {
  reason: LogoutReason;
  /** The answer's status (401 from the API, 400 from POST /token); null when unknown. */
  status: number | null;
  /** The body's `error` (`invalid_token`, `invalid_grant`, ...), or null. */
  error: string | null;
  /**
   * The body's `error_description`, else the one of `WWW-Authenticate`, or null: for POST /token
   * it tells why the refresh token was refused (e.g. its reuse was detected).
   */
  description: string | null;
}

/** Reads one response header by name (any case); null or undefined when it is absent. */
export type GetHeader = (name: string) => string | null | undefined;

/** Where the tokens are kept: `localStorage` by default; any object with these three methods. */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The answer of POST /login, POST /token and POST /password. */
export interface LoginAnswer {
  /** Absent in cookie mode (the token is in the HttpOnly `__Host-jwtguard-at` cookie). */
  access_token?: string;
  /** `"DPoP"` (any case): the pair is bound to this browser's DPoP key; sent as `Authorization: DPoP`. */
  token_type?: "Bearer" | "DPoP" | (string & {});
  /** Seconds the access token lives: the silent refresh comes shortly before. */
  expires_in: number;
  /** Absent in cookie mode (the `__Secure-jwtguard-rt` cookie) and without sessions. */
  refresh_token?: string;
  user?: string;
  admin?: boolean;
}

export interface SessionOptions {
  /** The storage key of the access token. Default `"jwtguard.token"`. */
  storageKey?: string;
  /** The storage key of the refresh token. Default `"<storageKey>.refresh"`. */
  refreshKey?: string;
  /** The storage key of the access token's expiry (milliseconds since the epoch). Default `"<storageKey>.expires"`. */
  expiresKey?: string;
  /** Default `window.localStorage`. */
  storage?: TokenStorage;
  /**
   * Called once the tokens are gone: after an answer of this tab's session (or a refused
   * refresh), or when another tab of the browser (same storage key) met the signal while this
   * tab had the session. `detail` says which answer ended it.
   */
  onLogout?: (reason: LogoutReason, detail: LogoutDetail) => void;
  /** Called in every tab once a new pair from a refresh is in place, with the new expiry (ms since the epoch). */
  onRefresh?: (expiresAt: number) => void;
  /**
   * Tell the other tabs about a logout and a refreshed pair, and hear theirs (BroadcastChannel
   * `"jwtguard:<storageKey>"`; a logout also over the `storage` event on `"<storageKey>.logout"`
   * where BroadcastChannel is missing). Default true.
   */
  crossTab?: boolean;
  /**
   * Cookie mode: the server keeps the tokens in HttpOnly cookies; only the expiry is stored,
   * requests go with `credentials: "same-origin"` and `X-CSRF-Token` on unsafe methods, and a
   * refresh sends no refresh_token field. `true` always, `false` never (a login answer without
   * `access_token` then throws), `"auto"` (default) as the login answer says: tokens in its
   * body, Bearer; none, cookies.
   */
  cookies?: boolean | "auto";
  /** The page-readable cookie whose value goes in `X-CSRF-Token`. Default `"__Host-jwtguard-csrf"`. */
  csrfCookie?: string;
  /** Where a refresh is POSTed (`grant_type=refresh_token`, RFC 6749 §6). Default `"/token"`. */
  tokenUrl?: string;
  /** Seconds before the expiry at which the silent refresh comes (at most half the token's time left). Default 60. */
  refreshAhead?: number;
  /** Refresh silently before the expiry. Default true; without, only a 401 `expired` refreshes. */
  autoRefresh?: boolean;
  /**
   * DPoP (RFC 9449): a non-extractable ECDSA P-256 key made with WebCrypto, kept in IndexedDB
   * (database `"jwtguard"`, store `"dpop-keys"`, under `storageKey`: the same key across reloads
   * and tabs) and deleted on logout. Every request of `fetch` and `installAxios` carries a proof
   * (`DPoP`: ES256; `htm`, `htu` without query and fragment, `iat`, a random `jti`, `ath` of the
   * token, the server's latest `DPoP-Nonce`), a token answered with `token_type: "DPoP"` goes as
   * `Authorization: DPoP <token>`, one answered `"Bearer"` as before; a login sent with
   * `session.fetch` (no token stored) and every refresh carry a proof without `ath`. Answers
   * `use_dpop_nonce` are retried once with the nonce, `invalid_dpop_proof` once with a fresh proof
   * (the clock taken from the answer's `Date`); neither they nor `dpop_binding` or `dpop_required`
   * log out. Without WebCrypto or IndexedDB (an insecure context) and in cookie mode, no proofs
   * are sent. Default false.
   */
  dpop?: boolean;
}

/** The part of an axios instance (axios 0.x and 1.x) that `installAxios` uses. */
export interface AxiosLike {
  interceptors: {
    request: {
      use(onFulfilled: (config: any) => any): unknown;
    };
    response: {
      use(onFulfilled: (response: any) => any, onRejected: (error: any) => any): unknown;
    };
  };
  /** Retries a request after a refresh (or, with DPoP, with the server's nonce or a fresh proof). */
  request(config: any): Promise<any>;
  /** The request's full URL (axios 1.x): a DPoP proof's `htu`; else `config.url`. */
  getUri?(config?: any): string;
}

export interface Session {
  /** The stored access token, or null (always null in cookie mode). */
  token(): string | null;
  /** Whether this tab holds a session: a stored token, or in cookie mode a stored login. */
  signedIn(): boolean;
  /** When the access token expires (milliseconds since the epoch), or null when unknown. */
  expiresAt(): number | null;
  /** Store a bare access token (no refresh token, no expiry): a login without sessions. */
  setToken(token: string): void;
  /**
   * Store the answer of POST /login, /token or /password (tokens, none in cookie mode, and the
   * expiry) and schedule the silent refresh.
   */
  setTokens(answer: LoginAnswer): void;
  /**
   * Renew the pair now: one refresh at a time across tabs (Web Locks), the new pair shared with
   * them. Resolves true once a new pair is in place; false when it failed (the next try comes on
   * its own) or the session ended (onLogout called).
   */
  refresh(): Promise<boolean>;
  /** Forget the tokens (log out here) and the DPoP key: this tab only, onLogout is not called. */
  clear(): void;
  /**
   * `"DPoP"` when the stored token is bound to this browser's key (the server answered
   * `token_type: "DPoP"`), `"Bearer"` for another stored token, null without one or in cookie mode.
   */
  tokenType(): "DPoP" | "Bearer" | null;
  /**
   * With `dpop: true`, the headers a request sent some other way (XMLHttpRequest, another library)
   * needs: `DPoP`, a proof for `method` (as it is sent: DELETE, GET, HEAD, OPTIONS, POST and PUT
   * upper-cased) and `url` (resolved against the page), and `Authorization: DPoP <token>` when a
   * DPoP token is stored; the proof alone without a token (a login). `{}` when a Bearer token is
   * stored, in cookie mode and without DPoP. Rejects when a DPoP token's key is gone (the session
   * ends: `dpop_key_lost`). The answer is yours to `check` (no nonce retry).
   */
  dpopHeaders(method: string, url: string | URL): Promise<Record<string, string>>;
  /**
   * With `dpop: true`, the RFC 7638 SHA-256 thumbprint (base64url) of this session's public key,
   * what a bound token's `cnf.jkt` holds; the key is made when there is none yet. Null without DPoP.
   */
  dpopThumbprint(): Promise<string | null>;
  /**
   * Look at an answer (with its parsed JSON body when at hand); on a logout signal (and a
   * session) clear the tokens, call onLogout and tell the other tabs. Returns the signal's
   * reason, or null. A 401 `expired` with a refresh at hand ends nothing: refresh, then retry.
   */
  check(status: number, getHeader: GetHeader, body?: unknown): LogoutReason | null;
  /**
   * `fetch()` with `Authorization: Bearer <token>` added (unless given; in cookie mode
   * `credentials: "same-origin"` and `X-CSRF-Token` on unsafe methods) and the answer checked;
   * a 401 `expired` is refreshed once and the request retried once. With `dpop: true` (unless the
   * init or Request has its own `Authorization` or `DPoP`): `Authorization: DPoP <token>` for a
   * DPoP token, and a `DPoP` proof (with no token stored, the proof alone: a login); an answer
   * `use_dpop_nonce` is retried once with the server's nonce, `invalid_dpop_proof` once with a
   * fresh proof.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * The same for every request and answer (errors included) of this axios instance; with
   * `dpop: true` the request interceptor is asynchronous (it signs the proof).
   */
  installAxios(axios: AxiosLike): void;
  /** Stop hearing the other tabs and stop the silent refresh (a session that is thrown away). */
  close(): void;
}

/** A session over the stored tokens. */
export function createSession(options?: SessionOptions): Session;

/**
 * The logout signal an answer carries, or null: the rule `check` applies (which, unlike this,
 * refreshes rather than ends on `expired` when it can).
 */
export function logoutReason(status: number, getHeader: GetHeader, body?: unknown): LogoutReason | null;

/** `window.JWTGuard`, when loaded with a <script> tag. */
export as namespace JWTGuard;
