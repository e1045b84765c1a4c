/*
 * jwtguard.js: the browser half of jwtguard. No dependencies.
 *
 * Keeps the tokens of a login in localStorage (the access token and, with
 * sessions, the refresh token and the access token's expiry), sends the access
 * token as "Authorization: Bearer ...", renews it silently shortly before it
 * expires (POST /token, RFC 6749 §6), and logs the person out on the spot when
 * the server says the session is over:
 *
 * - an answer with "X-User-Enabled: false" (account disabled or gone);
 * - a 401 whose body's reason is revoked, disabled, unknown_user or
 *   session_revoked (logged out everywhere, password changed, this session
 *   ended from another device), or any other 401 with error="invalid_token"
 *   (but DPoP's dpop_binding and dpop_required: see below);
 * - a 401 "expired" is first answered by one refresh and one retry of the
 *   request: only when the refresh is refused does the session end.
 *
 * The tokens are removed and onLogout(reason, detail) is called, in this tab and
 * in every other tab of the browser that uses the same storage key
 * (BroadcastChannel, or the "storage" event where BroadcastChannel is missing),
 * without a request there. One refresh at a time across tabs: the Web Locks API
 * (navigator.locks) serialises them, and the new pair is shared with the other
 * tabs over the BroadcastChannel; without either API each tab refreshes on its
 * own, and a refresh the server answers "token already rotated" picks up the
 * pair another tab stored.
 *
 * Cookie mode (the server keeps the tokens in HttpOnly cookies): nothing but
 * the expiry is stored, requests go with credentials "same-origin" and an
 * X-CSRF-Token header (from the __Host-jwtguard-csrf cookie) on unsafe methods,
 * and a refresh is POST /token without a refresh_token field.
 *
 *   const session = JWTGuard.createSession({ onLogout: (reason, detail) => showLogin(reason) });
 *   session.setTokens(await loginResponse.json());        // the answer of POST /login
 *   const response = await session.fetch("/api/me");      // a fetch() wrapper
 *   session.installAxios(axios);                          // or axios interceptors
 *
 * DPoP (RFC 9449), opt-in with createSession({ dpop: true }): tokens bound to a
 * key of this browser, so that a copy of them is worth nothing elsewhere. The
 * helper makes a non-extractable P-256 key pair with WebCrypto once, keeps it in
 * IndexedDB (database "jwtguard", store "dpop-keys", under the storage key: the
 * same key across reloads and tabs) and deletes it on logout (the next login
 * gets a new one). A token the server answered with token_type "DPoP" goes as
 * "Authorization: DPoP <token>" with a proof, "DPoP: <ES256 JWS>" (htm, htu
 * without query and fragment, iat, a random jti, ath of the token, the server's
 * nonce), on every request of session.fetch and installAxios; one answered
 * "Bearer" goes as before, without a proof (a server without DPoP). A request
 * without a token, such as the login (with no token stored: after a logout, or
 * session.clear()), carries a proof alone, so that the server can bind the pair
 * it answers:
 *
 *   const session = JWTGuard.createSession({ dpop: true, onLogout: ... });
 *   const login = await session.fetch("/login", { method: "POST", body: ... });  // a proof, no token
 *   session.setTokens(await login.json());                // token_type "DPoP": bound
 *
 * (or session.dpopHeaders(method, url) for a request sent some other way). A
 * refresh (POST tokenUrl) carries a proof, without ath. The latest DPoP-Nonce
 * the server sent (per origin) goes into the next proofs; an answer
 * use_dpop_nonce (401 from the API, 400 from POST /login or /token) is retried
 * once with the new nonce, and invalid_dpop_proof once with a fresh proof (the
 * clock set by the answer's Date header: a proof's iat from a wrong clock is
 * the usual cause). Neither logs out, nor do dpop_binding and dpop_required
 * (the token is bound to another key, or was sent without its proof): only the
 * signals above end a session, and "dpop_key_lost" when a DPoP token is stored
 * but its key is gone (IndexedDB cleared). Without WebCrypto or IndexedDB (an
 * insecure context), and in cookie mode, `dpop: true` sends no proofs.
 *
 * Cross-origin APIs must list X-User-Enabled and WWW-Authenticate in
 * Access-Control-Expose-Headers (jwtguard adds X-User-Enabled itself when the
 * response carries CORS headers); with DPoP also DPoP-Nonce and Date, and allow
 * the DPoP request header.
 *
 * This file is the UMD build (a <script> tag sets window.JWTGuard; CommonJS gets
 * module.exports). jwtguard.mjs, the ES module build, is generated from the part
 * between the "shared source" markers by scripts/build-helper-esm.py; types are in
 * jwtguard.d.ts.
 */
(function (root, factory) {
  "use strict";
  var api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.JWTGuard = api;
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";
  // --- shared source: begin ---

  /** The guard's reasons after which no refresh helps: the session is over. */
  var ENDED = ["revoked", "disabled", "unknown_user", "session_revoked"];
  /** How long a refresh answered "token already rotated" waits for another tab's new pair. */
  var ROTATED_WAIT_MS = 3000;
  /** When a refresh failed for a passing reason (offline, 5xx), the next try. */
  var RETRY_MS = 10000;
  /** A refresh that takes longer is abandoned (it holds the lock every tab waits for). */
  var REFRESH_TIMEOUT_MS = 15000;
  /** DPoP's reasons that say error="invalid_token" but end no session: the proof's key, not the login. */
  var BOUND = ["dpop_binding", "dpop_required"];
  /** The errors of a DPoP proof the helper answers itself: the server's nonce, or a fresh proof (once each). */
  var NONCE_ERROR = "use_dpop_nonce";
  var PROOF_ERROR = "invalid_dpop_proof";
  /** Where the DPoP keys are kept: one IndexedDB database, one record per storage key. */
  var KEY_DATABASE = "jwtguard";
  var KEY_STORE = "dpop-keys";

  function userDisabled(getHeader) {
    var enabled = getHeader("X-User-Enabled");
    return enabled !== null && enabled !== undefined && String(enabled).toLowerCase() === "false";
  }

  /**
   * Why the server ended the session, or null when it did not. `body` (optional) is the
   * answer's parsed JSON: with it the reason is the guard's own ("revoked", "session_revoked",
   * "expired", ...); without it, "disabled" or "invalid_token" as the headers tell.
   */
  function logoutReason(status, getHeader, body) {
    var named = body && typeof body.reason === "string" ? body.reason : null;
    if (userDisabled(getHeader)) {
      return named === "unknown_user" ? "unknown_user" : "disabled";
    }
    if (status !== 401) {
      return null;
    }
    if (named !== null && ENDED.indexOf(named) !== -1) {
      return named;
    }
    if (named !== null && BOUND.indexOf(named) !== -1) {
      return null; // DPoP: the token is bound to another key, or came without its proof
    }
    var challenge = String(getHeader("WWW-Authenticate") || "");
    if (challenge.indexOf('error="invalid_token"') !== -1 || (body && body.error === "invalid_token")) {
      return named !== null ? named : "invalid_token";
    }
    return null;
  }

  /** What onLogout gets beside the reason: the answer's status, error code and description. */
  function logoutDetail(reason, status, getHeader, body) {
    var description = body && typeof body.error_description === "string" ? body.error_description : null;
    if (description === null) {
      var match = /error_description="([^"]*)"/.exec(String(getHeader("WWW-Authenticate") || ""));
      description = match ? match[1] : null;
    }
    return {
      reason: reason,
      status: status,
      error: body && typeof body.error === "string" ? body.error : null,
      description: description,
    };
  }

  /** Safe methods (RFC 9110 §9.2.1) need no CSRF token; every other one does. */
  function unsafe(method) {
    return !/^(GET|HEAD|OPTIONS|TRACE)$/i.test(String(method || "GET"));
  }

  function readCookie(name) {
    if (typeof document === "undefined" || typeof document.cookie !== "string") {
      return null;
    }
    var parts = document.cookie.split(";");
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i].replace(/^\s+/, "");
      if (part.indexOf(name + "=") === 0) {
        var value = part.slice(name.length + 1);
        try {
          return decodeURIComponent(value);
        } catch (error) {
          return value;
        }
      }
    }
    return null;
  }

  /** Whether this browser can keep a DPoP key: WebCrypto and IndexedDB (a secure context). */
  function webCrypto() {
    return (
      typeof crypto !== "undefined" &&
      typeof crypto.getRandomValues === "function" &&
      typeof crypto.subtle === "object" &&
      crypto.subtle !== null &&
      typeof indexedDB !== "undefined" &&
      typeof TextEncoder === "function"
    );
  }

  function base64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) {
      text += String.fromCharCode(bytes[i]);
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  /** base64url(SHA-256(text)): a token's ath (RFC 9449 §4.2), a key's thumbprint (RFC 7638). */
  function sha256(text) {
    return crypto.subtle.digest("SHA-256", utf8(text)).then(base64url);
  }

  /** The method as fetch() and XMLHttpRequest send it: these six upper-cased, any other as given. */
  function sentMethod(method) {
    var text = String(method || "GET");
    return /^(DELETE|GET|HEAD|OPTIONS|POST|PUT)$/i.test(text) ? text.toUpperCase() : text;
  }

  /** A URL resolved against the page's: absolute, for htu and the nonce's origin. */
  function absolute(url) {
    return new URL(String(url), typeof location !== "undefined" ? location.href : undefined);
  }

  /** An answer's DPoP error (RFC 9449 §7.1, §8, §9) the helper answers itself, or null. */
  function dpopProblem(status, getHeader, body) {
    if (status !== 400 && status !== 401) {
      return null;
    }
    var challenge = String(getHeader("WWW-Authenticate") || "");
    var named = [body && body.error, body && body.reason];
    var codes = [NONCE_ERROR, PROOF_ERROR];
    for (var i = 0; i < codes.length; i++) {
      if (named.indexOf(codes[i]) !== -1 || challenge.indexOf('error="' + codes[i] + '"') !== -1) {
        return codes[i];
      }
    }
    return null;
  }

  function openKeys() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(KEY_DATABASE, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(KEY_STORE);
      };
      request.onsuccess = function () {
        resolve(request.result);
      };
      request.onerror = function () {
        reject(request.error);
      };
    });
  }

  /** One request on the key store, resolved once its transaction is committed. */
  function inKeyStore(db, mode, work) {
    return new Promise(function (resolve, reject) {
      var transaction = db.transaction(KEY_STORE, mode);
      var request = work(transaction.objectStore(KEY_STORE));
      transaction.oncomplete = function () {
        resolve(request.result);
      };
      transaction.onabort = transaction.onerror = function () {
        reject(transaction.error || request.error);
      };
    });
  }

  /**
   * A new DPoP key: ECDSA P-256, the private key not extractable (it never leaves WebCrypto; a
   * CryptoKey goes into IndexedDB as it is), its public JWK and RFC 7638 thumbprint beside it.
   */
  function newKey() {
    return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]).then(function (pair) {
      return crypto.subtle.exportKey("jwk", pair.publicKey).then(function (full) {
        var jwk = { crv: full.crv, kty: full.kty, x: full.x, y: full.y }; // RFC 7638 §3.2: these, in this order
        return sha256(JSON.stringify(jwk)).then(function (jkt) {
          return { privateKey: pair.privateKey, publicKey: pair.publicKey, jwk: jwk, jkt: jkt };
        });
      });
    });
  }

  /** A DPoP proof (RFC 9449 §4.2): an ES256 JWS; WebCrypto's ECDSA signature is already JWS's r || s. */
  function signProof(key, claims) {
    var header = { typ: "dpop+jwt", alg: "ES256", jwk: key.jwk };
    var input = base64url(utf8(JSON.stringify(header))) + "." + base64url(utf8(JSON.stringify(claims)));
    var algorithm = { name: "ECDSA", hash: { name: "SHA-256" } };
    return crypto.subtle.sign(algorithm, key.privateKey, utf8(input)).then(function (signature) {
      return input + "." + base64url(signature);
    });
  }

  function readJson(response) {
    return response.json().then(
      function (body) {
        return body !== null && typeof body === "object" ? body : null;
      },
      function () {
        return null;
      }
    );
  }

  /** Runs `task` holding the origin-wide lock `name` (Web Locks), or at once where there are none. */
  function exclusive(name, task) {
    var locks = typeof navigator !== "undefined" && navigator.locks ? navigator.locks : null;
    if (locks === null || typeof locks.request !== "function") {
      return Promise.resolve().then(task);
    }
    var ran = false;
    var held;
    try {
      held = locks.request(name, function () {
        ran = true;
        return task();
      });
    } catch (error) {
      return Promise.resolve().then(task); // an opaque origin: no locks to be had
    }
    return held.catch(function (error) {
      if (ran) {
        throw error;
      }
      return task();
    });
  }

  /*
   * Every tab: messages to the other tabs of this origin go on the BroadcastChannel
   * "jwtguard:<storageKey>": a logout ({reason, detail}) and a refreshed pair ({pair}).
   * Where BroadcastChannel is missing, a logout is announced by writing (and at once
   * removing) "<storageKey>.logout", which fires a "storage" event in the other tabs; a
   * pair is not sent that way (the tabs share the storage it is kept in). A logout
   * carries only the reason and its detail, never a token.
   */
  function tabLink(storageKey, storage, receive) {
    var name = "jwtguard:" + storageKey;
    if (typeof BroadcastChannel === "function") {
      var channel = new BroadcastChannel(name);
      channel.onmessage = function (event) {
        if (event.data && typeof event.data === "object") {
          receive(event.data);
        }
      };
      return {
        send: function (message) {
          channel.postMessage(message);
        },
        close: function () {
          channel.close();
        },
      };
    }
    var signalKey = storageKey + ".logout";
    var target = typeof window !== "undefined" && window.addEventListener ? window : null;
    function onStorage(event) {
      if (event.key !== signalKey || !event.newValue || event.storageArea !== storage) {
        return;
      }
      try {
        var message = JSON.parse(event.newValue);
      } catch (error) {
        return;
      }
      if (message && typeof message.reason === "string") {
        receive(message);
      }
    }
    if (target !== null) {
      target.addEventListener("storage", onStorage);
    }
    return {
      send: function (message) {
        if (typeof message.reason !== "string") {
          return;
        }
        try {
          // The time makes each value new, so that a repeated reason still fires an event.
          var value = { reason: message.reason, detail: message.detail, at: Date.now() };
          storage.setItem(signalKey, JSON.stringify(value));
          storage.removeItem(signalKey);
        } catch (error) {
          // Storage full or refused: this tab is logged out all the same.
        }
      },
      close: function () {
        if (target !== null) {
          target.removeEventListener("storage", onStorage);
        }
      },
    };
  }

  function createSession(options) {
    options = options || {};
    var storageKey = options.storageKey || "jwtguard.token";
    var refreshKey = options.refreshKey || storageKey + ".refresh";
    var expiresKey = options.expiresKey || storageKey + ".expires";
    var storage = options.storage || window.localStorage;
    var onLogout = options.onLogout || function () {};
    var onRefresh = options.onRefresh || function () {};
    // "auto": the login answer decides (tokens in its body: Bearer; none: cookies).
    var cookies = options.cookies === undefined ? "auto" : options.cookies;
    var csrfCookie = options.csrfCookie || "__Host-jwtguard-csrf";
    var tokenUrl = options.tokenUrl || "/token";
    var refreshAhead = typeof options.refreshAhead === "number" ? options.refreshAhead : 60;
    var autoRefresh = options.autoRefresh !== false;
    var lockName = "jwtguard:" + storageKey + ":refresh";
    // DPoP: the token type ("DPoP" when the server bound the pair to this browser's key) is kept
    // beside the token; per origin, the server's latest nonce and the clock's offset from its Date.
    var dpop = options.dpop === true && webCrypto();
    var typeKey = storageKey + ".type";
    var origins = {};
    var keyCache = null; // { marker, promise }: the key as read for the stored token
    var keyDatabase = null;
    // What this tab last read or wrote (the access token; in cookie mode the expiry): a logout
    // from another tab ends only a session this tab had (no second onLogout after this tab's
    // own, no onLogout on a login form), and a refresh is due only if nobody renewed it since.
    var known = null;
    var announced = storage.getItem(expiresKey); // the expiry onRefresh last told (or found)
    var timer = null;
    var scheduledFor = null;
    var inflight = null;
    var closed = false;
    var link = options.crossTab === false ? null : tabLink(storageKey, storage, fromOtherTab);

    function cookieMode() {
      if (cookies === true || cookies === false) {
        return cookies;
      }
      return storage.getItem(storageKey) === null && storage.getItem(expiresKey) !== null;
    }

    /** The access token, or in cookie mode the expiry: what changes with every login and refresh. */
    function marker() {
      var value = storage.getItem(storageKey);
      return value === null && cookieMode() ? storage.getItem(expiresKey) : value;
    }

    /** The marker, noted as this tab's own. */
    function current() {
      var value = marker();
      if (value !== null) {
        known = value;
      }
      return value;
    }

    function canRefresh() {
      return cookieMode() ? storage.getItem(expiresKey) !== null : storage.getItem(refreshKey) !== null;
    }

    function keep(token, refresh, expiresAt, type) {
      if (dpop) {
        if (token !== null && type === "DPoP") {
          storage.setItem(typeKey, type);
        } else {
          storage.removeItem(typeKey);
        }
      }
      if (token !== null) {
        storage.setItem(storageKey, token);
      } else {
        storage.removeItem(storageKey);
      }
      if (refresh !== null) {
        storage.setItem(refreshKey, refresh);
      } else {
        storage.removeItem(refreshKey);
      }
      if (isFinite(expiresAt)) {
        storage.setItem(expiresKey, String(expiresAt));
      } else if (token === null) {
        storage.setItem(expiresKey, "0"); // cookie mode without expires_in: signed in, expiry unknown
      } else {
        storage.removeItem(expiresKey);
      }
      current();
    }

    function wipe() {
      storage.removeItem(storageKey);
      storage.removeItem(refreshKey);
      storage.removeItem(expiresKey);
      if (dpop) {
        storage.removeItem(typeKey);
      }
      known = null;
      stopTimer();
    }

    // --- DPoP (RFC 9449) ---

    /** Whether requests carry proofs: `dpop: true`, WebCrypto at hand, and tokens in the page (no cookies). */
    function proving() {
      return dpop && !cookieMode();
    }

    /** Whether the stored access token is bound to this browser's key (token_type DPoP). */
    function dpopTyped() {
      return dpop && storage.getItem(typeKey) === "DPoP" && storage.getItem(storageKey) !== null;
    }

    function tokenType(answer) {
      var type = answer && typeof answer.token_type === "string" ? answer.token_type.toLowerCase() : "";
      return type === "dpop" ? "DPoP" : "Bearer";
    }

    function keyStore() {
      if (keyDatabase === null) {
        var opening = openKeys().then(function (db) {
          db.onversionchange = function () {
            db.close();
            if (keyDatabase === opening) {
              keyDatabase = null;
            }
          };
          return db;
        });
        opening.catch(function () {
          if (keyDatabase === opening) {
            keyDatabase = null;
          }
        });
        keyDatabase = opening;
      }
      return keyDatabase;
    }

    /**
     * This session's key from IndexedDB, read again whenever the stored token changed (a new login in
     * another tab makes a new key); with `create`, made when there is none (two tabs making one at once:
     * the first stored wins). Resolves null when there is none and `create` is false.
     */
    function dpopKey(create) {
      var marker = current();
      if (keyCache !== null && keyCache.marker === marker) {
        return keyCache.promise;
      }
      var read = function (store) {
        return store.get(storageKey);
      };
      var promise = keyStore().then(function (db) {
        return inKeyStore(db, "readonly", read).then(function (found) {
          if (found || !create) {
            return found || null;
          }
          return newKey().then(function (made) {
            var add = function (store) {
              return store.add(made, storageKey);
            };
            return inKeyStore(db, "readwrite", add).then(
              function () {
                return made;
              },
              function () {
                return inKeyStore(db, "readonly", read).then(function (stored) {
                  if (!stored) {
                    throw new TypeError("jwtguard: the DPoP key cannot be stored");
                  }
                  return stored;
                });
              }
            );
          });
        });
      });
      var entry = { marker: marker, promise: promise };
      keyCache = entry;
      promise.then(
        function (key) {
          if (key === null && keyCache === entry) {
            keyCache = null;
          }
        },
        function () {
          if (keyCache === entry) {
            keyCache = null;
          }
        }
      );
      return promise;
    }

    /** The session ended: its key goes (the next login gets a new one). */
    function forgetKey() {
      keyCache = null;
      if (!dpop) {
        return;
      }
      keyStore()
        .then(function (db) {
          return inKeyStore(db, "readwrite", function (store) {
            return store.delete(storageKey);
          });
        })
        .catch(function () {});
    }

    function originOf(url) {
      var origin = absolute(url).origin;
      if (!Object.prototype.hasOwnProperty.call(origins, origin)) {
        origins[origin] = { nonce: null, skew: 0 };
      }
      return origins[origin];
    }

    /** RFC 9449 §8: the latest DPoP-Nonce an origin sent goes into the next proofs for it. */
    function noteNonce(url, getHeader) {
      var nonce = getHeader("DPoP-Nonce");
      if (typeof nonce === "string" && nonce !== "") {
        originOf(url).nonce = nonce;
      }
    }

    /** A refused proof: take the server's clock from its Date (a proof's iat from a wrong clock fails). */
    function noteClock(url, getHeader) {
      var date = Date.parse(String(getHeader("Date") || ""));
      if (isFinite(date)) {
        originOf(url).skew = date - Date.now();
      }
    }

    /**
     * The proof for one request: `token` (or null) is the access token its ath covers. Resolves null
     * when there is no key to be had (none stored and `create` false, or no IndexedDB).
     */
    function proofFor(method, url, token, create) {
      var target = absolute(url);
      var state = originOf(target.href);
      target.search = "";
      target.hash = "";
      return dpopKey(create).then(
        function (key) {
          if (key === null) {
            return null;
          }
          var random = new Uint8Array(16); // 128 bits (RFC 9449 §4.2 asks for 96 or more)
          crypto.getRandomValues(random);
          var claims = {
            jti: base64url(random),
            htm: method,
            htu: target.href,
            iat: Math.floor((Date.now() + state.skew) / 1000),
          };
          return (token === null ? Promise.resolve(null) : sha256(token)).then(function (ath) {
            if (ath !== null) {
              claims.ath = ath;
            }
            if (state.nonce !== null) {
              claims.nonce = state.nonce;
            }
            return signProof(key, claims);
          });
        },
        function () {
          return null;
        }
      );
    }

    /** A DPoP token is stored but its key is gone (IndexedDB cleared): the session cannot go on. */
    function keyLost() {
      var description = "the DPoP key of this session is gone from this browser";
      end("dpop_key_lost", { reason: "dpop_key_lost", status: null, error: null, description: description });
      return new TypeError("jwtguard: " + description);
    }

    /**
     * What a request carries in DPoP mode for the stored `token` (or null): `authorization` (the field's
     * value, or null for none) and `proof` (or null). A Bearer token goes as before, without a proof; a
     * DPoP token with one covering it; no token (a login) with a proof alone. Rejects when the key of a
     * DPoP token is gone (the session is ended).
     */
    function dpopCredentials(method, url, token) {
      var bound = token !== null && dpopTyped();
      if (token !== null && !bound) {
        return Promise.resolve({ authorization: "Bearer " + token, proof: null });
      }
      return proofFor(method, url, bound ? token : null, !bound).then(function (proof) {
        if (proof === null && bound) {
          throw keyLost();
        }
        return { authorization: bound ? "DPoP " + token : null, proof: proof };
      });
    }

    function retrying(tries, kind) {
      var next = { expired: tries.expired, nonce: tries.nonce, proof: tries.proof };
      next[kind] = true;
      return next;
    }

    function stopTimer() {
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
    }

    /** Silent refresh: a timer for shortly before the stored expiry (refreshAhead, at most half the time left). */
    function schedule(delay) {
      stopTimer();
      var expiresAt = Number(storage.getItem(expiresKey));
      if (closed || !autoRefresh || !(expiresAt > 0) || !canRefresh()) {
        return;
      }
      if (delay === undefined) {
        var left = expiresAt - Date.now();
        delay = Math.max(left - Math.min(refreshAhead * 1000, left / 2), 0);
      }
      scheduledFor = storage.getItem(expiresKey);
      timer = setTimeout(due, Math.min(delay, 2147483647));
    }

    function due() {
      timer = null;
      var expiry = storage.getItem(expiresKey);
      if (expiry === null) {
        return; // logged out meanwhile
      }
      if (expiry !== scheduledFor) {
        renewed(); // another tab renewed the pair: its expiry sets the next time
        return;
      }
      renewal();
    }

    /** A new pair is in place (here or from another tab): next timer, and onRefresh once per pair. */
    function renewed() {
      schedule();
      var expiry = storage.getItem(expiresKey);
      if (expiry !== null && expiry !== announced) {
        announced = expiry;
        onRefresh(Number(expiry));
      }
    }

    function fromOtherTab(message) {
      if (message.pair && typeof message.pair === "object") {
        var pair = message.pair;
        if (known === null || typeof pair.expiresAt !== "number") {
          return; // this tab had no session: another tab's pair is none of its business
        }
        // Shared storage has it already; a storage of this tab's own takes it, never over a newer one.
        if (pair.expiresAt > (Number(storage.getItem(expiresKey)) || 0)) {
          keep(pair.token, pair.refresh, pair.expiresAt, pair.type);
        }
        renewed();
        return;
      }
      if (typeof message.reason !== "string") {
        return;
      }
      var ended = known;
      if (ended === null) {
        return;
      }
      known = null;
      keyCache = null; // the other tab deleted the key
      // Shared storage is already empty; never remove a newer token (a fresh login meanwhile).
      if (marker() === ended) {
        wipe();
      } else {
        schedule();
      }
      var detail = message.detail || { reason: message.reason, status: null, error: null, description: null };
      onLogout(message.reason, detail);
    }

    /** The session is over: forget it, tell onLogout and the other tabs. */
    function end(reason, detail) {
      if (current() === null) {
        return;
      }
      wipe();
      forgetKey();
      onLogout(reason, detail);
      if (link !== null) {
        link.send({ reason: reason, detail: detail });
      }
    }

    /** One refresh at a time in this tab; resolves to "renewed", "ended" (logged out) or "failed". */
    function renewal() {
      if (inflight === null) {
        var seen = current();
        inflight = exclusive(lockName, function () {
          return renew(seen);
        })
          .catch(function () {
            return "failed";
          })
          .then(function (outcome) {
            inflight = null;
            if (outcome === "failed" && current() !== null) {
              schedule(RETRY_MS);
            }
            return outcome;
          });
      }
      return inflight;
    }

    /** A refresh for a request sent with `sentWith` (its token, or expiry): none if one came since. */
    function renewalSince(sentWith) {
      var now = current();
      if (now === null) {
        return Promise.resolve("ended");
      }
      if (sentWith !== undefined && now !== sentWith) {
        return Promise.resolve("renewed");
      }
      return renewal();
    }

    /** Holding the lock: unless another tab renewed the pair while this one waited, POST /token. */
    function renew(seen) {
      var now = current();
      if (now === null) {
        return "ended";
      }
      if (now !== seen) {
        renewed();
        return "renewed";
      }
      var cookie = cookieMode();
      var refresh = storage.getItem(refreshKey);
      if (!cookie && refresh === null) {
        return "failed";
      }
      var headers = { "Content-Type": "application/x-www-form-urlencoded" };
      var form = "grant_type=refresh_token";
      if (cookie) {
        var csrf = readCookie(csrfCookie);
        if (csrf !== null) {
          headers["X-CSRF-Token"] = csrf;
        }
      } else {
        form += "&refresh_token=" + encodeURIComponent(refresh);
      }
      var init = { method: "POST", headers: headers, body: form, credentials: "same-origin", cache: "no-store" };
      var stop = null;
      if (typeof AbortController === "function") {
        var abort = new AbortController();
        init.signal = abort.signal;
        stop = setTimeout(function () {
          abort.abort();
        }, REFRESH_TIMEOUT_MS);
      }
      var sent;
      if (!(dpop && !cookie)) {
        sent = fetch(tokenUrl, init).then(function (response) {
          return readJson(response).then(function (body) {
            return answered(response, body, now, refresh, cookie);
          });
        });
      } else {
        // DPoP: a proof (no ath) from the pair's key; the server's nonce, or a fresh proof, once each.
        var bound = dpopTyped();
        var attempt = function (tries) {
          return proofFor("POST", tokenUrl, null, !bound).then(function (proof) {
            if (proof === null && bound) {
              keyLost();
              return "ended";
            }
            if (proof !== null) {
              headers.DPoP = proof;
            }
            return fetch(tokenUrl, init).then(function (response) {
              return readJson(response).then(function (body) {
                var getHeader = headerGetter(response);
                noteNonce(tokenUrl, getHeader);
                var problem = proof === null ? null : dpopProblem(response.status, getHeader, body);
                if (problem === NONCE_ERROR && !tries.nonce) {
                  return attempt(retrying(tries, "nonce"));
                }
                if (problem === PROOF_ERROR && !tries.proof) {
                  noteClock(tokenUrl, getHeader);
                  return attempt(retrying(tries, "proof"));
                }
                if (problem !== null) {
                  return "failed"; // no logout: the next try comes
                }
                return answered(response, body, now, refresh, cookie);
              });
            });
          });
        };
        sent = attempt({});
      }
      return sent
        .catch(function () {
          return "failed"; // offline, aborted: the next try comes
        })
        .then(function (outcome) {
          if (stop !== null) {
            clearTimeout(stop);
          }
          return outcome;
        });
    }

    function answered(response, body, sent, refresh, cookie) {
      var getHeader = function (name) {
        return response.headers.get(name);
      };
      if (response.ok && body !== null && (cookie || typeof body.access_token === "string")) {
        if (current() !== sent) {
          return current() === null ? "ended" : "renewed"; // logged out, or in again, meanwhile
        }
        var pair = {
          token: cookie ? null : body.access_token,
          refresh: cookie ? null : typeof body.refresh_token === "string" ? body.refresh_token : refresh,
          expiresAt: Date.now() + 1000 * Number(body.expires_in),
        };
        if (dpop) {
          pair.type = cookie ? null : tokenType(body);
        }
        keep(pair.token, pair.refresh, pair.expiresAt, pair.type);
        if (link !== null) {
          link.send({ pair: pair });
        }
        renewed();
        return "renewed";
      }
      var error = body && typeof body.error === "string" ? body.error : null;
      if (error === "invalid_grant" && /already rotated/i.test(String(body.error_description))) {
        return pickUp(sent); // another tab rotated it: not a logout
      }
      var status = response.status;
      if (status < 400 || status >= 500 || status === 408 || status === 429) {
        return "failed";
      }
      // Refused for good (expired or ended refresh token, reuse detected, account disabled).
      var reason = logoutReason(status, getHeader, body) || error || "invalid_grant";
      end(reason, logoutDetail(reason, status, getHeader, body));
      return "ended";
    }

    /** "token already rotated": wait a little for the pair of the tab that rotated it. */
    function pickUp(sent) {
      var deadline = Date.now() + ROTATED_WAIT_MS;
      return new Promise(function (resolve) {
        (function look() {
          var now = current();
          if (now === null) {
            resolve("ended");
          } else if (now !== sent) {
            renewed();
            resolve("renewed");
          } else if (Date.now() >= deadline) {
            resolve("failed");
          } else {
            setTimeout(look, 100);
          }
        })();
      });
    }

    function headerGetter(response) {
      return function (name) {
        var h = response.headers || {};
        return typeof h.get === "function" ? h.get(name) : h[name.toLowerCase()];
      };
    }

    /** `tries`: the retries made ({expired, nonce, proof}), each at most once. */
    function send(input, init, tries) {
      var isRequest = typeof Request === "function" && input instanceof Request;
      // DPoP: the caller's own Authorization or DPoP field is left alone, without a proof of ours.
      var prepared = Object.assign({}, init || {});
      var headers = new Headers(prepared.headers || (isRequest ? input.headers : {}));
      var signing = proving() && !headers.has("Authorization") && !headers.has("DPoP");
      var more = !tries.expired || (signing && (!tries.nonce || !tries.proof));
      var again = isRequest && more ? input.clone() : input; // a body is read once
      var method = prepared.method || (isRequest ? input.method : "GET");
      var sentWith = current();
      var ours = true;
      if (cookieMode()) {
        prepared.credentials = prepared.credentials || "same-origin";
        var csrf = readCookie(csrfCookie);
        if (unsafe(method) && csrf !== null && !headers.has("X-CSRF-Token")) {
          headers.set("X-CSRF-Token", csrf);
        }
      } else if (sentWith !== null && !headers.has("Authorization")) {
        if (!signing) {
          headers.set("Authorization", "Bearer " + sentWith);
        }
      } else {
        ours = false; // no token, or the caller's own: nothing to refresh
      }
      prepared.headers = headers;
      var url = isRequest ? input.url : String(input);
      var proved = false;
      var sending = !signing
        ? fetch(input, prepared)
        : dpopCredentials(sentMethod(method), url, sentWith).then(function (credentials) {
            if (credentials.authorization !== null) {
              headers.set("Authorization", credentials.authorization);
            }
            if (credentials.proof !== null) {
              headers.set("DPoP", credentials.proof);
              proved = true;
            }
            return fetch(input, prepared);
          });
      return sending.then(function (response) {
        var getHeader = headerGetter(response);
        if (proved) {
          noteNonce(url, getHeader);
        }
        if (response.status !== 401 && !userDisabled(getHeader) && !(proved && response.status === 400)) {
          return response;
        }
        return readJson(response.clone()).then(function (body) {
          var problem = proved ? dpopProblem(response.status, getHeader, body) : null;
          if (problem === NONCE_ERROR && !tries.nonce) {
            return send(again, init, retrying(tries, "nonce")); // the nonce of the answer's DPoP-Nonce
          }
          if (problem === PROOF_ERROR && !tries.proof) {
            noteClock(url, getHeader);
            return send(again, init, retrying(tries, "proof")); // a fresh proof
          }
          var reason = logoutReason(response.status, getHeader, body);
          if (reason === "expired" && ours && !tries.expired && canRefresh()) {
            // 401 expired: refresh once, then retry the request once with the new token.
            return renewalSince(sentWith).then(function (outcome) {
              return outcome === "renewed" ? send(again, init, retrying(tries, "expired")) : response;
            });
          }
          if (reason !== null) {
            end(reason, logoutDetail(reason, response.status, getHeader, body));
          }
          return response;
        });
      });
    }

    var session = {
      /** The stored access token (null in cookie mode, where the page never sees it). */
      token: function () {
        return cookieMode() ? null : current();
      },
      /** Whether this tab holds a session: a stored token, or in cookie mode a stored login. */
      signedIn: function () {
        return current() !== null;
      },
      /** When the access token expires (milliseconds since the epoch), or null when unknown. */
      expiresAt: function () {
        var expiresAt = Number(storage.getItem(expiresKey));
        return expiresAt > 0 ? expiresAt : null;
      },
      /** Store a bare access token (no refresh token, no expiry): a login without sessions. */
      setToken: function (token) {
        storage.removeItem(refreshKey);
        storage.removeItem(expiresKey);
        if (dpop) {
          storage.removeItem(typeKey);
        }
        storage.setItem(storageKey, token);
        known = token;
        announced = null;
        stopTimer();
      },
      /**
       * Store the answer of POST /login, POST /token or POST /password: the access and refresh
       * tokens (none in cookie mode) and the expiry from expires_in; schedules the silent refresh.
       */
      setTokens: function (answer) {
        var bearer = cookies !== true && typeof answer.access_token === "string";
        if (!bearer && cookies === false) {
          throw new TypeError("jwtguard: the answer has no access_token (cookies: false)");
        }
        var refresh = bearer && typeof answer.refresh_token === "string" ? answer.refresh_token : null;
        var type = bearer ? tokenType(answer) : null;
        keep(bearer ? answer.access_token : null, refresh, Date.now() + 1000 * Number(answer.expires_in), type);
        announced = storage.getItem(expiresKey);
        schedule();
      },
      /** Renew the pair now (one refresh across tabs); resolves true once a new pair is in place. */
      refresh: function () {
        return renewal().then(function (outcome) {
          return outcome === "renewed";
        });
      },
      /** Forget the tokens (the person logged out here, or the server said so) and the DPoP key; this tab only. */
      clear: function () {
        wipe();
        forgetKey();
      },
      /** "DPoP" when the stored token is bound to this browser's key, "Bearer" for another token, else null. */
      tokenType: function () {
        if (cookieMode() || current() === null) {
          return null;
        }
        return dpopTyped() ? "DPoP" : "Bearer";
      },
      /**
       * The headers a request sent some other way (XMLHttpRequest, another library) needs for DPoP:
       * `DPoP` (a proof for `method` and `url`) and, when a DPoP token is stored, `Authorization: DPoP`.
       * Without a token (a login) the proof alone; {} with a Bearer token, in cookie mode and without DPoP.
       */
      dpopHeaders: function (method, url) {
        if (!proving()) {
          return Promise.resolve({});
        }
        return dpopCredentials(sentMethod(method), url, current()).then(function (credentials) {
          var headers = {};
          if (credentials.proof !== null) {
            headers.DPoP = credentials.proof;
            if (credentials.authorization !== null) {
              headers.Authorization = credentials.authorization;
            }
          }
          return headers;
        });
      },
      /** The RFC 7638 thumbprint of this session's DPoP key (made when there is none yet), or null without DPoP. */
      dpopThumbprint: function () {
        if (!dpop) {
          return Promise.resolve(null);
        }
        return dpopKey(!dpopTyped()).then(
          function (key) {
            return key === null ? null : key.jkt;
          },
          function () {
            return null;
          }
        );
      },
      /**
       * Look at an answer (its parsed JSON body too, when at hand); on a logout signal clear the
       * tokens, call onLogout and tell the other tabs, whose sessions do the same. A 401 "expired"
       * with a refresh at hand ends nothing: the caller refreshes and retries.
       */
      check: function (status, getHeader, body) {
        var reason = logoutReason(status, getHeader, body);
        if (reason === "expired" && canRefresh()) {
          return reason;
        }
        if (reason !== null) {
          end(reason, logoutDetail(reason, status, getHeader, body));
        }
        return reason;
      },
      /**
       * fetch() with the credentials added (the Bearer token; in cookie mode the CSRF token on
       * unsafe methods) and the answer checked; a 401 "expired" is refreshed and retried once.
       */
      fetch: function (input, init) {
        return send(input, init, { expired: false, nonce: false, proof: false });
      },
      /** The same for every request of an axios instance, and every answer, errors included. */
      installAxios: function (axios) {
        axios.interceptors.request.use(function (config) {
          config.headers = config.headers || {};
          var set = function (name, value) {
            if (typeof config.headers.set === "function") {
              config.headers.set(name, value);
            } else {
              config.headers[name] = value;
            }
          };
          var sentWith = current();
          config._jwtguardSent = sentWith;
          if (cookieMode()) {
            var csrf = readCookie(csrfCookie);
            if (unsafe(config.method) && csrf !== null) {
              set("X-CSRF-Token", csrf);
            }
          } else if (proving()) {
            // DPoP: a proof per request (a retry makes a new one); a Bearer token goes as before.
            var url = absolute(typeof axios.getUri === "function" ? axios.getUri(config) : config.url || "").href;
            config._jwtguardUrl = url;
            config._jwtguardProved = false;
            var method = String(config.method || "GET").toUpperCase(); // axios sends it upper-cased
            return dpopCredentials(method, url, sentWith).then(function (credentials) {
              if (credentials.authorization !== null) {
                set("Authorization", credentials.authorization);
              }
              if (credentials.proof !== null) {
                set("DPoP", credentials.proof);
                config._jwtguardProved = true;
              } else if (typeof config.headers.delete === "function") {
                config.headers.delete("DPoP");
              } else {
                delete config.headers.DPoP;
              }
              return config;
            });
          } else if (sentWith !== null) {
            set("Authorization", "Bearer " + sentWith);
          }
          return config;
        });
        function body(response) {
          var data = response.data;
          if (typeof data === "string") {
            try {
              data = JSON.parse(data);
            } catch (error) {
              return null;
            }
          }
          return data !== null && typeof data === "object" ? data : null;
        }
        axios.interceptors.response.use(
          function (response) {
            if (response.config && response.config._jwtguardProved) {
              noteNonce(response.config._jwtguardUrl, headerGetter(response));
            }
            session.check(response.status, headerGetter(response), null);
            return response;
          },
          function (error) {
            var response = error && error.response;
            if (!response) {
              return Promise.reject(error);
            }
            var getHeader = headerGetter(response);
            var data = body(response);
            var config = error.config;
            if (config && config._jwtguardProved) {
              noteNonce(config._jwtguardUrl, getHeader);
              var problem = dpopProblem(response.status, getHeader, data);
              if (problem === NONCE_ERROR && !config._jwtguardNonce) {
                config._jwtguardNonce = true; // the nonce of the answer's DPoP-Nonce
                return axios.request(config);
              }
              if (problem === PROOF_ERROR && !config._jwtguardProof) {
                noteClock(config._jwtguardUrl, getHeader);
                config._jwtguardProof = true; // a fresh proof
                return axios.request(config);
              }
            }
            var reason = logoutReason(response.status, getHeader, data);
            if (reason === "expired" && config && !config._jwtguardRetried && canRefresh()) {
              // 401 expired: refresh once, then retry the request once with the new token.
              return renewalSince(config._jwtguardSent).then(function (outcome) {
                if (outcome !== "renewed") {
                  return Promise.reject(error);
                }
                config._jwtguardRetried = true;
                return axios.request(config);
              });
            }
            if (reason !== null) {
              end(reason, logoutDetail(reason, response.status, getHeader, data));
            }
            return Promise.reject(error);
          }
        );
      },
      /** Stop listening to the other tabs and stop the silent refresh (a session thrown away). */
      close: function () {
        closed = true;
        stopTimer();
        if (link !== null) {
          link.close();
          link = null;
        }
        if (visibility !== null) {
          document.removeEventListener("visibilitychange", visibility);
          visibility = null;
        }
        if (stored !== null) {
          window.removeEventListener("storage", stored);
          stored = null;
        }
        if (keyDatabase !== null) {
          keyDatabase.then(function (db) {
            db.close();
          }, function () {});
          keyDatabase = null;
        }
      },
    };

    // A hidden tab's timers are throttled: look again when it is shown.
    var visibility = null;
    if (typeof document !== "undefined" && typeof document.addEventListener === "function") {
      visibility = function () {
        if (document.visibilityState === "visible" && timer !== null) {
          schedule();
        }
      };
      document.addEventListener("visibilitychange", visibility);
    }
    // Another tab stored a new pair in the shared storage (the BroadcastChannel may be missing).
    var stored = null;
    if (typeof window !== "undefined" && typeof window.addEventListener === "function") {
      stored = function (event) {
        if (event.key === expiresKey && event.newValue !== null && event.storageArea === storage && known !== null) {
          renewed();
        }
      };
      window.addEventListener("storage", stored);
    }
    schedule();
    return session;
  }

  // --- shared source: end ---
  return { createSession: createSession, logoutReason: logoutReason };
});
