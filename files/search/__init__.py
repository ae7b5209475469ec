"""Search behind a small interface (`SearchBackend`), the engine chosen by a setting.

    page = get_search_backend().search(membership=membership, query="invoice", filters={})

`settings.SEARCH_BACKEND` names the backend class and its options; PostgreSQL full text
(`files.search.postgres`) is the only one today.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from files.search.base import SearchBackend, SearchHit, SearchPage

__all__ = ["SearchBackend", "SearchHit", "SearchPage", "get_search_backend"]


@functools.cache
def get_search_backend() -> SearchBackend:
    """The backend `settings.SEARCH_BACKEND` configures, built once per process."""
    config = settings.SEARCH_BACKEND
    backend = import_string(config["BACKEND"])(**config.get("OPTIONS", {}))
    if not isinstance(backend, SearchBackend):
        raise TypeError(f"SEARCH_BACKEND {config['BACKEND']} is not a files.search.SearchBackend")
    return backend


@receiver(setting_changed, dispatch_uid="files.search.forget_backend")
def _forget_backend(*, setting: str, **kwargs) -> None:
    # Tests (and a reconfigured process) choose another backend through the setting.
    if setting == "SEARCH_BACKEND":
        get_search_backend.cache_clear()
