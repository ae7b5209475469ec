"""WSGI entry point for gunicorn."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
application = get_wsgi_application()

# What a worker loads at start (modules, settings, URL patterns, which import every view) lives
# as long as the worker. Frozen, it is left out of the cyclic garbage collector's passes: the
# full collections that requests' many short-lived objects set off scan only what is young.
url_patterns = get_resolver().url_patterns
gc.collect()
gc.freeze()
