"""What the README says about the package is what the code and pyproject.toml do."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / 'README.md').read_text(encoding='utf-8')
NUMBERS = {'three': 3, 'four': 4, 'five': 5, 'six': 6, 'seven': 7}


def test_the_runtime_dependency_count_is_right() -> None:
    project = tomllib.loads((REPO_ROOT / 'pyproject.toml').read_text(encoding='utf-8'))['project']
    names = [re.split(r'[<>=!~\[; ]', dep, maxsplit=1)[0] for dep in project['dependencies']]
    found = re.search(r'\*\*Light\.\*\* (\w+) runtime dependencies \(([^)]*)\)', README)
    assert found, 'the README no longer states its dependency count'
    assert NUMBERS[found.group(1).lower()] == len(names)
    for name in names:
        assert name in found.group(2)


def run(code: str) -> subprocess.CompletedProcess[str]:
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(REPO_ROOT)}  # no OPENAI_API_KEY
    return subprocess.run(
        [sys.executable, '-c', code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=45
    )


def test_a_missing_key_is_reported_at_agent_unless_deferred() -> None:
    assert 'reported there, at `Agent(...)`' in README
    assert 'defer_model_check=True' in README
    eager = run("from modelkit import Agent\nAgent('openai:gpt-4o')")
    assert eager.returncode == 1
    assert 'UserError' in eager.stderr
    assert 'OPENAI_API_KEY' in eager.stderr
    deferred = run(
        'from modelkit import Agent, UserError\n'
        "agent = Agent('openai:gpt-4o', defer_model_check=True)\n"
        "print('built')\n"
        "try:\n    agent.run_sync('hi')\nexcept UserError as exc:\n    print('at the run:', exc)\n"
    )
    assert deferred.returncode == 0, deferred.stderr
    assert deferred.stdout.startswith('built\nat the run: ')
    assert 'OPENAI_API_KEY' in deferred.stdout
