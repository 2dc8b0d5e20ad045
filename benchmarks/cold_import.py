"""Benchmark 3: cold import time, each import in a fresh interpreter; the helper every vendor's row uses.

The clock runs inside the child around the `import` statement alone, so interpreter start-up
(the same for everyone) does not water the ratios down. The floor is importing what modelkit
cannot do without: httpx, pydantic and orjson. When modelkit misses its target, the modules of
ours that cost the most under `python -X importtime` are listed.

An import is a few tens of milliseconds of CPU, and the machines this runs on are often shared: a
child that waits for a core shows that wait in its wall time, not in its CPU time. So the child
reports both, the ratio is taken on CPU time (`time.process_time()` around the import: the work the
import does, on or off a loaded machine) and the wall-clock median is printed beside it. The floor
and the contenders run round-robin, the order rotating every round, so that drift in the machine
hits them alike; each figure is a median of many runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from ._harness import Result, print_table

__all__ = ('QUICK_REPEATS', 'REPEATS', 'importtime_offenders', 'loaded_modules', 'run')

TARGET_RATIO = 1.25
"""`import modelkit.models.openai` must stay within this factor of the floor (issue 2)."""

REPEATS = 31
"""Fresh interpreters per row by default: a 31-run median shrugs off a few outliers on either side."""

QUICK_REPEATS = 15
"""Per row under `--quick`: still enough for a stable median, in a few seconds per row."""

FLOOR = 'httpx, pydantic, orjson'
CASES: tuple[tuple[str, str, float | None], ...] = (
    ('floor: import httpx, pydantic, orjson', FLOOR, None),
    ('import modelkit.models.openai', 'modelkit.models.openai', TARGET_RATIO),
    # The interface defers the provider and transport (and with them httpx) to first use; this
    # row is everything a first request needs, for a like-for-like look against the floor.
    ('  + modelkit.providers.openai', 'modelkit.models.openai, modelkit.providers.openai', None),
    ('import modelkit', 'modelkit', None),
)

_CHILD = (
    'import time\n'
    'w0 = time.perf_counter()\n'
    'c0 = time.process_time()\n'
    'import {modules}\n'
    'c1 = time.process_time()\n'
    'w1 = time.perf_counter()\n'
    'print(repr(c1 - c0), repr(w1 - w0))\n'
)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Measure as installed: byte-code caches are written by the untimed first round and used after
    # (kept outside the source tree), whatever PYTHONDONTWRITEBYTECODE says.
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    env['PYTHONPYCACHEPREFIX'] = os.path.join(tempfile.gettempdir(), 'modelkit-benchmarks-pycache')
    env['PYTHONHASHSEED'] = '0'
    env.pop('PYTHONPROFILEIMPORTTIME', None)
    return env


def _child(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, '-c', code],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        last = completed.stderr.strip().splitlines()[-1:] or ['no output']
        raise RuntimeError(last[0])
    return completed.stdout.strip().splitlines()[-1]


def _time_import(modules: str) -> tuple[float, float]:
    """`(CPU seconds, wall seconds)` of `import modules` in a fresh interpreter."""
    cpu, wall = _child(_CHILD.format(modules=modules)).split()
    return float(cpu), float(wall)


def loaded_modules(modules: str) -> set[str]:
    """Every module in `sys.modules` after `import modules` in a fresh interpreter."""
    code = f'import sys\nimport {modules}\nprint(" ".join(sorted(sys.modules)))'
    return set(_child(code).split())


_IMPORTTIME_LINE = re.compile(r'^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)', re.MULTILINE)


def _importtime(modules: str) -> list[tuple[int, int, str]]:
    """`(self µs, depth, module)` per line of `python -X importtime`, in its order (children first)."""
    completed = subprocess.run(
        [sys.executable, '-X', 'importtime', '-c', f'import {modules}'],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=60,
        check=False,
    )
    return [
        (int(m.group(1)), len(m.group(3)) // 2, m.group(4))
        for m in _IMPORTTIME_LINE.finditer(completed.stderr)
    ]


def importtime_offenders(modules: str, top: int = 12) -> list[tuple[int, int, str]]:
    """`(self µs, µs beyond the floor, module)` for the costliest imports under `import modules`.

    "Beyond the floor" sums the self time of a module and everything it pulled in, leaving out
    modules the floor imports anyway. Our modules come first (by that sum), then the third-party
    modules the floor does not import (by self time).
    """
    in_floor = {name for _, _, name in _importtime(FLOOR)}
    rows: list[tuple[int, int, str]] = []
    # importtime prints a module after everything it imported, one level deeper; a stack of
    # (depth, cost) folds each finished subtree into its parent.
    stack: list[tuple[int, int]] = []
    for self_us, depth, name in _importtime(modules):
        extra = 0 if name in in_floor else self_us
        while stack and stack[-1][0] > depth:
            extra += stack.pop()[1]
        stack.append((depth, extra))
        if name not in in_floor:
            rows.append((self_us, extra, name))
    ours = sorted((r for r in rows if r[2].split('.')[0] == 'modelkit'), key=lambda r: -r[1])
    others = sorted((r for r in rows if r[2].split('.')[0] != 'modelkit'), key=lambda r: -r[0])
    return ours[:top] + others[:top]


def run(
    repeats: int,
    cases: tuple[tuple[str, str, float | None], ...] = CASES,
    what: str = 'modelkit.models.openai',
    target_ratio: float = TARGET_RATIO,
    *,
    forbidden: Sequence[str] = (),
    benchmark: str = 'import',
    title: str | None = None,
) -> list[Result]:
    """Time each import `repeats` times (round-robin), print the table and any offenders.

    `cases` are `(row name, modules, target)` with the floor among them; a vendor passes its own
    (its interface plus provider), `what` and `target_ratio` naming its target in the title. A row
    (other than the floor) whose import loads any module named in `forbidden`, or one inside it
    (`google.auth` covers `google.auth.transport`), is reported as an error instead of timed.
    """
    results = [
        Result(benchmark, 'cold import', name, units=1, target=target, is_floor=(modules == FLOOR))
        for name, modules, target in cases
    ]
    rows = list(zip(results, (modules for _, modules, _ in cases), strict=True))
    # One untimed round writes the byte-code caches, warms the file system cache, and checks what
    # each import loads.
    for result, modules in rows:
        try:
            loaded = loaded_modules(modules)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            result.status = f'error: {exc}'[:160]
            continue
        if not result.is_floor and (bad := _forbidden(loaded, forbidden)):
            result.status = f'error: the import loads {", ".join(bad)}'[:160]
    for round_ in range(repeats):
        # Rotate who goes first, so no row always follows the same neighbour (or a pause).
        shift = round_ % len(rows)
        for result, modules in rows[shift:] + rows[:shift]:
            if result.status:
                continue
            try:
                cpu, wall = _time_import(modules)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                result.status = f'error: {exc}'[:160]
                result.runs.clear()
                result.wall_runs.clear()
                continue
            result.runs.append(cpu)
            result.wall_runs.append(wall)
    print_table(
        title
        or (
            f'3. Cold import, fresh interpreter each, median of {repeats} '
            f'(target: {what} <= {target_ratio}x floor)'
        ),
        results,
        unit=None,
        median_label='cpu ms',
        wall_label='wall ms',
    )
    for result, (_, modules, _) in zip(results, cases, strict=True):
        # Informational rows get the breakdown too when they are over the target.
        ratio = result.ratio
        if result.is_floor or ratio is None or ratio <= target_ratio:
            continue
        print(
            f'\n`python -X importtime -c "import {modules}"` ({ratio:.2f}x): modules the floor does not load'
        )
        print(f'{"self ms":>9} {"beyond floor ms":>16}  module')
        for self_us, extra_us, name in importtime_offenders(modules):
            print(f'{self_us / 1e3:9.2f} {extra_us / 1e3:16.2f}  {name}')
    return results


def _forbidden(loaded: set[str], forbidden: Sequence[str]) -> list[str]:
    return [name for name in forbidden if any(m == name or m.startswith(f'{name}.') for m in loaded)]
