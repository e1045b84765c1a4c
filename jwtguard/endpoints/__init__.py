"""HTTP endpoints jwtguard serves beside the middleware, each a small WSGI and ASGI app.

- :mod:`jwtguard.endpoints.jwks`: ``/.well-known/jwks.json``, jwtguard's public keys (issue 10).
"""
