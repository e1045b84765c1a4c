# examples/recipes/django_wsgi.py
"""A Django project's wsgi.py (as startproject writes it) with the guard: two lines added."""

import os

from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]

from jwtguard import JWTGuardWSGI  # added

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
application = JWTGuardWSGI(application)  # added: settings from the JWTGUARD_* variables
