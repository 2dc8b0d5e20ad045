"""Soak (issue 12 item 9): hundreds of concurrent streams against faults drawn at random.

Half go to the emulator with one of its faults (or none), half to a scripted hostile server on
127.0.0.1 (`benchmarks.soak.HOSTILE`). Whatever is drawn: no untyped error, no hang, every failure
after a stream opened carries its partial response, and file descriptors return to their baseline.
The same again with every stream cancelled at a random moment. Each runs on every HTTP stack
(tests/transport/stacks.py: httpx on asyncio and trio, aiohttp on asyncio) at the same size. The
long run is `python -m benchmarks.soak` (see benchmarks/README.md).
"""

from __future__ import annotations

import pytest

from benchmarks.soak import HOSTILE, soak
from tests.transport.stacks import anyio_backend, http_transport, stack

__all__ = ('anyio_backend', 'http_transport', 'stack')  # the stack fixtures, used by name

pytestmark = pytest.mark.anyio

STREAMS = 300
CONCURRENCY = 150


@pytest.mark.parametrize('cancel', [False, True], ids=['random faults', 'random cancellation'])
async def test_streams_under_random_faults_keep_every_promise(cancel: bool, http_transport: str) -> None:
    report = await soak(STREAMS, CONCURRENCY, seed=7, cancel=cancel, deadline_s=45, transport=http_transport)
    assert report.untyped == [], report.summary()
    assert report.lost == [], report.summary()
    assert report.fds_after <= report.fds_before, report.summary()
    assert sum(report.outcomes.values()) == STREAMS
    drawn = {label.split(' -> ')[0] for label in report.outcomes}
    assert {f'hostile {name}' for name in HOSTILE} <= drawn  # every misbehaviour was exercised
    if cancel:
        assert any(label.endswith('-> cancelled') for label in report.outcomes)
    else:
        assert any(label.endswith('-> complete') for label in report.outcomes)
