/*
 * jwtguard.js: the browser half of jwtguard. No dependencies.
 *
 * Keeps the token in localStorage, sends it as "Authorization: Bearer ...", and
 * logs the person out on the spot when the server says the session is over:
 * a response with "X-User-Enabled: false" (account disabled or gone), or a 401
 * whose WWW-Authenticate carries error="invalid_token" (expired, revoked by
 * "log out everywhere" or a password change). The token is removed from
 * localStorage and onLogout(reason) is called.
 *
 *   const session = JWTGuard.createSession({ onLogout: (reason) => showLogin(reason) });
 *   session.setToken(tokenFromLogin);
 *   const response = await session.fetch("/api/me");      // a fetch() wrapper
 *   session.installAxios(axios);                          // or axios interceptors
 *
 * Cross-origin APIs must list X-User-Enabled and WWW-Authenticate in
 * Access-Control-Expose-Headers (jwtguard adds X-User-Enabled itself when the
 * response carries CORS headers).
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

  function createSession(options) {
    options = options || {};
    var storageKey = options.storageKey || "jwtguard.token";
    var storage = options.storage || window.localStorage;
    var onLogout = options.onLogout || function () {};

    var session = {
      token: function () {
        return storage.getItem(storageKey);
      },
      setToken: function (token) {
        storage.setItem(storageKey, token);
      },
      /** Forget the token (the person logged out here, or the server said so). */
      clear: function () {
        storage.removeItem(storageKey);
      },
      /** Look at a response; on a logout signal clear the token and call onLogout. */
      check: function (status, getHeader) {
        var reason = logoutReason(status, getHeader);
        if (reason !== null && session.token() !== null) {
          session.clear();
          onLogout(reason);
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
    };
    return session;
  }

  return { createSession: createSession, logoutReason: logoutReason };
});
