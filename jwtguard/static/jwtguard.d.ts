/**
 * Types of jwtguard.js, the browser helper of jwtguard (UMD: a <script> tag sets
 * `window.JWTGuard`; CommonJS gets `module.exports`). jwtguard.d.mts re-exports them
 * for jwtguard.mjs, the ES module build. Kept by hand beside the JavaScript;
 * tests/test_helper_build.py checks that every name the helper has appears here.
 */

/** Why the server ended the session: `X-User-Enabled: false`, or a 401 with `error="invalid_token"`. */
export type LogoutReason = "disabled" | "invalid_token";

/** Reads one response header by name (any case); null or undefined when it is absent. */
export type GetHeader = (name: string) => string | null | undefined;

/** Where the token is kept: `localStorage` by default; any object with these three methods. */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface SessionOptions {
  /** The storage key of the token. Default `"jwtguard.token"`. */
  storageKey?: string;
  /** Default `window.localStorage`. */
  storage?: TokenStorage;
  /**
   * Called once the token is gone: after an answer of this tab's session, or when another tab
   * of the browser (same storage key) met the signal while this tab had the token.
   */
  onLogout?: (reason: LogoutReason) => void;
  /**
   * Tell the other tabs about a logout and hear theirs (BroadcastChannel
   * `"jwtguard:<storageKey>"`, else the `storage` event on `"<storageKey>.logout"`). Default true.
   */
  crossTab?: boolean;
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
}

export interface Session {
  /** The stored token, or null. */
  token(): string | null;
  /** Store the token from a login. */
  setToken(token: string): void;
  /** Forget the token (log out here): this tab only, onLogout is not called. */
  clear(): void;
  /**
   * Look at an answer; on a logout signal (and a stored token) clear the token, call onLogout
   * and tell the other tabs. Returns the signal's reason, or null.
   */
  check(status: number, getHeader: GetHeader): LogoutReason | null;
  /** `fetch()` with `Authorization: Bearer <token>` added (unless given) and the answer checked. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Adds the token to every request of this axios instance and checks every answer, errors included. */
  installAxios(axios: AxiosLike): void;
  /** Stop hearing the other tabs (a session that is thrown away). */
  close(): void;
}

/** A session over the stored token. */
export function createSession(options?: SessionOptions): Session;

/** The logout signal an answer carries, or null: the rule `check` applies. */
export function logoutReason(status: number, getHeader: GetHeader): LogoutReason | null;

/** `window.JWTGuard`, when loaded with a <script> tag. */
export as namespace JWTGuard;
