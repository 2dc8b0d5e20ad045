"""The one rule for a test whose input may be absent: skip on a user's clone, fail under CI=true."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import NoReturn

import pytest

__all__ = ('CI_ENV', 'in_ci', 'require_ruff', 'skip_unless_ci')

CI_ENV = 'CI'
"""When `true`, something a test needs but cannot find is a failure, not a skip."""


def in_ci() -> bool:
    """Whether the suite runs under CI (`CI=true`)."""
    return os.environ.get(CI_ENV, '').lower() == 'true'


def skip_unless_ci(reason: str) -> NoReturn:
    """Skip the calling test for `reason`; under CI=true fail it instead, so CI never skips silently."""
    if in_ci():
        pytest.fail(f'{reason}; CI must run this test')
    pytest.skip(reason)


def require_ruff() -> None:
    """Skip where ruff is not installed for this interpreter (run it as `sys.executable -m ruff`);
    under CI=true that is a failure, so the lint gates cannot skip silently."""
    if importlib.util.find_spec('ruff') is None:
        skip_unless_ci(f'ruff is not installed for {sys.executable} (it comes with the test extra)')
