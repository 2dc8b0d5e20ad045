"""The code-quality gates run as part of the suite, so one test command checks everything."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.timeout(300)
def test_ruff_lint_is_clean() -> None:
    if shutil.which('ruff') is None:
        pytest.skip('ruff is not installed (it comes with the test extra)')
    result = _run('ruff', 'check', '.')
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_ruff_format_is_clean() -> None:
    if shutil.which('ruff') is None:
        pytest.skip('ruff is not installed (it comes with the test extra)')
    result = _run('ruff', 'format', '--check', '.')
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_mypy_strict_is_clean() -> None:
    result = _run(sys.executable, '-m', 'mypy')
    assert result.returncode == 0, result.stdout + result.stderr
