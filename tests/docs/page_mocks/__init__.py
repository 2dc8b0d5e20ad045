"""Mock vendor servers for the Models page test, one module per wire format.

Each module defines `install(router: respx.Router) -> None`, registering the routes its vendor's
examples call and answering the page's questions (`ANSWERS`) in that vendor's wire format. A new
vendor adds a module here; nothing else in the page test changes.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

import respx

# prompt -> (answer, prompt tokens, completion tokens); a dict answer is a structured result.
ANSWERS: dict[str, tuple[object, int, int]] = {
    'Where were the olympics held in 2012?': ({'city': 'London', 'country': 'United Kingdom'}, 57, 8),
    'What is the capital of France?': ('Paris', 12, 1),
}

INVALID_KEY = 'not-valid'
"""The key the page's fallback examples pass to make a model fail with a 401."""


def install_all(router: respx.Router) -> None:
    """Register every vendor's mock routes on `router`."""
    for info in pkgutil.iter_modules(__path__):
        import_module(f'{__name__}.{info.name}').install(router)
