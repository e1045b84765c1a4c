/*
 * jwtguard.js: the browser half of jwtguard. No dependencies.
 *
 * Keeps the token in localStorage, sends it as "Authorization: Bearer ...", and
 * logs the person out on the spot when the server says the session is over:
 * a response with "X-User-Enabled: false" (account disabled or gone), or a 401
 * whose WWW-Authenticate carries error="invalid_token" (expired, revoked by
 * "log out everywhere" or a password change). The token is removed from
 * localStorage and onLogout(reason) is called, in this tab and in every other
 * tab of the browser that uses the same storage key (BroadcastChannel, or the
 * "storage" event where BroadcastChannel is missing), without a request there.
 *
 *   const session = JWTGuard.createSession({ onLogout: (reason) => showLogin(reason) });
 *   session.setToken(tokenFromLogin);
 *   const response = await session.fetch("/api/me");      // a fetch() wrapper
 *   session.installAxios(axios);                          // or axios interceptors
 *
 * Cross-origin APIs must list X-User-Enabled and WWW-Authenticate in
 * Access-Control-Expose-Headers (jwtguard adds X-User-Enabled itself when the
 * response carries CORS headers).
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

  /** Why the server ended the session, or null when it did not. */
  function logoutReason(status, getHeader) {
    var enabled = getHeader("X-User-Enabled");
    if (enabled !== null && enabled !== undefined && String(enabled).toLowerCase() === "false") {
      return "disabled";
    }
    if (status === 401) {
      var challenge = String(getHeader("WWW-Authenticate") || "");
      if (challenge.indexOf('error="invalid_token"') !== -1) {
        return "invalid_token";
      }
    }
    return null;
  }

  /*
   * Every tab: a logout signal is announced to the other tabs of this origin on
   * the BroadcastChannel "jwtguard:<storageKey>"; where BroadcastChannel is
   * missing, by writing (and at once removing) "<storageKey>.logout", which fires
   * a "storage" event in the other tabs. Only the reason travels, never a token.
   */
  function tabLink(storageKey, storage, receive) {
    var name = "jwtguard:" + storageKey;
    if (typeof BroadcastChannel === "function") {
      var channel = new BroadcastChannel(name);
      channel.onmessage = function (event) {
        if (event.data && typeof event.data.reason === "string") {
          receive(event.data.reason);
        }
      };
      return {
        send: function (reason) {
          channel.postMessage({ reason: reason });
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
        var reason = JSON.parse(event.newValue).reason;
      } catch (error) {
        return;
      }
      if (typeof reason === "string") {
        receive(reason);
      }
    }
    if (target !== null) {
      target.addEventListener("storage", onStorage);
    }
    return {
      send: function (reason) {
        try {
          // The time makes each value new, so that a repeated reason still fires an event.
          storage.setItem(signalKey, JSON.stringify({ reason: reason, at: Date.now() }));
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
    var storage = options.storage || window.localStorage;
    var onLogout = options.onLogout || function () {};
    // The token this tab last read or wrote: a logout from another tab ends only a session
    // this tab had (no second onLogout after this tab's own, no onLogout on a login form).
    var known = null;
    var link = options.crossTab === false ? null : tabLink(storageKey, storage, fromOtherTab);

    function fromOtherTab(reason) {
      var ended = known;
      if (ended === null) {
        return;
      }
      known = null;
      // Shared storage is already empty; never remove a newer token (a fresh login meanwhile).
      if (storage.getItem(storageKey) === ended) {
        storage.removeItem(storageKey);
      }
      onLogout(reason);
    }

    var session = {
      token: function () {
        var token = storage.getItem(storageKey);
        if (token !== null) {
          known = token;
        }
        return token;
      },
      setToken: function (token) {
        storage.setItem(storageKey, token);
        known = token;
      },
      /** Forget the token (the person logged out here, or the server said so); this tab only. */
      clear: function () {
        storage.removeItem(storageKey);
        known = null;
      },
      /**
       * Look at a response; on a logout signal clear the token, call onLogout and tell the
       * other tabs, whose sessions do the same.
       */
      check: function (status, getHeader) {
        var reason = logoutReason(status, getHeader);
        if (reason !== null && session.token() !== null) {
          session.clear();
          onLogout(reason);
          if (link !== null) {
            link.send(reason);
          }
        }
        return reason;
      },
      /** fetch() with the Bearer token added and the answer checked. */
      fetch: function (input, init) {
        init = Object.assign({}, init || {});
        var headers = new Headers(init.headers || {});
        var token = session.token();
        if (token !== null && !headers.has("Authorization")) {
          headers.set("Authorization", "Bearer " + token);
        }
        init.headers = headers;
        return fetch(input, init).then(function (response) {
          session.check(response.status, function (name) {
            return response.headers.get(name);
          });
          return response;
        });
      },
      /** Add the token to every axios request and check every answer, errors included. */
      installAxios: function (axios) {
        axios.interceptors.request.use(function (config) {
          var token = session.token();
          if (token !== null) {
            config.headers = config.headers || {};
            if (typeof config.headers.set === "function") {
              config.headers.set("Authorization", "Bearer " + token);
            } else {
              config.headers.Authorization = "Bearer " + token;
            }
          }
          return config;
        });
        function inspect(response) {
          if (response) {
            session.check(response.status, function (name) {
              var h = response.headers || {};
              return typeof h.get === "function" ? h.get(name) : h[name.toLowerCase()];
            });
          }
        }
        axios.interceptors.response.use(
          function (response) {
            inspect(response);
            return response;
          },
          function (error) {
            inspect(error && error.response);
            return Promise.reject(error);
          }
        );
      },
      /** Stop listening to the other tabs (a session that is thrown away). */
      close: function () {
        if (link !== null) {
          link.close();
          link = null;
        }
      },
    };
    return session;
  }

  // --- shared source: end ---
  return { createSession: createSession, logoutReason: logoutReason };
});
