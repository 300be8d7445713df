"""What a process keeps between calls, forgotten in one call.

A module that keeps something at module level — the settings, engines, unsealed keys, API
clients and their tokens, compiled templates, the catalogue of segment fields — registers how
to forget it here, beside the cache itself::

    runtime.forgets("settings", get_settings.cache_clear)

so a new capability adds its cache in its own module and nothing keeps a list. ``reset()``
forgets all of them: tests call it between configurations (a changed environment, another
database), instead of each clearing the caches it knows about. A module not yet imported has
registered nothing, and has nothing to forget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_FORGET: dict[str, Callable[[], object]] = {}
_lock = threading.Lock()


def forgets(name: str, forget: Callable[[], object]) -> None:
    """Register ``forget`` (clears one cache; takes no argument) under a name that says what it
    clears, e.g. ``"wecom.client.tokens"``. Registering a name again replaces it (a module
    reloaded)."""
    with _lock:
        _FORGET[name] = forget


def registered() -> list[str]:
    """The names of the caches ``reset`` clears, in the order they were registered."""
    with _lock:
        return list(_FORGET)


def reset() -> None:
    """Forget every registered cache, in the order registered."""
    with _lock:
        forgetting = list(_FORGET.values())
    for forget in forgetting:
        forget()
