"""The code-quality gates run as part of the suite, so one test command checks everything.

Each tool runs as `python -m <tool>` with this interpreter, so a tool installed in the test
environment runs even when its script is not on PATH (a venv used without activating it).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers.ci import require_ruff


def _run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args` from the repository root, with this test run's interpreter."""
    return subprocess.run(
        [sys.executable, '-m', module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.timeout(300)
def test_ruff_lint_is_clean() -> None:
    require_ruff()
    result = _run_module('ruff', 'check', '.')
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_ruff_format_is_clean() -> None:
    require_ruff()
    result = _run_module('ruff', 'format', '--check', '.')
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_mypy_strict_is_clean() -> None:
    # No skip: a missing mypy fails here ("No module named mypy"), as it always has.
    result = _run_module('mypy')
    assert result.returncode == 0, result.stdout + result.stderr


def test_gates_do_not_depend_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # With PATH emptied, the tools are still found: they run as modules of this interpreter.
    require_ruff()
    monkeypatch.setenv('PATH', '')
    result = _run_module('ruff', '--version')
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith('ruff ')
