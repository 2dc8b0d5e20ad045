"""Soak: many concurrent streams against faults drawn at random, and the same with random cancellation.

`python -m benchmarks.soak` runs the long version (default 5,000 streams, 300 at once, both
backends); the test suite runs a short one (tests/soak/). Every stream goes to one of two servers
on 127.0.0.1: modelkit's emulator with one of its faults (or none), or a small scripted hostile
server (below) playing a misbehaving gateway or vendor. What must hold, whatever is drawn:

- every failure is a typed `ModelkitError`: no untyped exception, ever;
- no hang: each stream is bounded by its `timeout`, the whole run by a deadline;
- every failure after the stream opened carries its `partial_response`;
- file descriptors are back to where they were once the client is closed.

With `cancel=True` each stream is also cancelled at a random moment, which must change nothing but
the count of cancelled streams. `transport='aiohttp'` (asyncio only, the `fast` extra) runs the
same streams over the aiohttp transport, which must keep the same promises.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import httpx
import orjson

from modelkit.emulator import Emulator, EmulatorConfig
from modelkit.exceptions import ModelAPIError, ModelHTTPError, ModelkitError
from modelkit.messages import ModelRequest, UserPromptPart
from modelkit.models import ModelRequestParameters
from modelkit.models.openai import OpenAIModel
from modelkit.providers.openai import OpenAIProvider

__all__ = ('EMULATOR_FAULTS', 'HOSTILE', 'SoakReport', 'open_fds', 'soak')

EMULATOR_FAULTS = ('none', 'drop', 'truncate', 'stream-error', '429', '500', '503', 'slow-first-byte')
"""The emulator's faults; 'none' is a healthy stream."""

STREAM_TIMEOUT_S = 2.0
"""Each stream's `timeout`: short, so a server that stalls costs the run little, and long enough
that hundreds of connections opening at once on a loaded machine do not all run out of it."""


# -- the hostile server: raw HTTP/1.1 bytes, so it can break the protocol at any point -------------


def _sse(payload: object) -> bytes:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return f'data: {data}\n\n'.encode()


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {'content': content} if content is not None else {}
    return _sse(
        {
            'id': 'c',
            'model': 'm',
            'created': 1,
            'choices': [{'index': 0, 'delta': delta, 'finish_reason': finish}],
        }
    )


_OPENING = [
    _sse({'id': 'c', 'model': 'm', 'created': 1, 'choices': [{'index': 0, 'delta': {'role': 'assistant'}}]})
]
_OPENING += [_chunk(w) for w in ('Rivers ', 'run ', 'to ', 'the ', 'sea.')]
_DONE = [_chunk(None, 'stop'), _sse('[DONE]')]
_COMPLETION = orjson.dumps(
    {
        'id': 'w',
        'model': 'm',
        'created': 1,
        'choices': [
            {'index': 0, 'message': {'role': 'assistant', 'content': 'Whole.'}, 'finish_reason': 'stop'}
        ],
    }
)


def _chunked(data: bytes) -> bytes:
    return b'%x\r\n%s\r\n' % (len(data), data)


_HEAD = b'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n'


async def _stall(stream: anyio.abc.SocketStream) -> None:
    while await stream.receive():
        pass


async def _trickle(stream: anyio.abc.SocketStream, data: bytes, every: float) -> None:
    while True:
        await anyio.sleep(every)
        await stream.send(data)


async def _hostile(name: str, stream: anyio.abc.SocketStream) -> None:
    """Answer one request as the scripted misbehaviour `name` would."""
    send = stream.send
    if name == 'close-before-head':
        return
    if name == 'trickle-headers':
        await send(b'HTTP/1.1 200 OK\r\nx-slow: ')
        await _trickle(stream, b'z', 0.1)
    if name == 'json-error':
        body = orjson.dumps({'error': {'message': 'upstream overloaded', 'type': 'server_error'}})
        await send(
            b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n' % len(body)
            + body
        )
        return
    if name == 'json-completion':
        await send(
            b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n'
            % len(_COMPLETION)
        )
        await send(_COMPLETION)
        return
    await send(_HEAD)
    for piece in _OPENING:
        await send(_chunked(piece))
    if name == 'done-then-stall':
        for piece in _DONE:
            await send(_chunked(piece))
        await _stall(stream)
    elif name == 'keep-alives':
        await _trickle(stream, _chunked(b': ping\n\n'), 0.05)
    elif name == 'bad-utf8':
        await send(_chunked(b'data: \xff\xfe\n\n'))
        await send(b'0\r\n\r\n')
    elif name == 'drop-mid-body':
        await send(_chunked(b'data: {"choi'))
    elif name == 'bad-chunk-framing':
        await send(b'zz\r\nnot a chunk size\r\n')
    elif name == 'stall-mid-body':
        await _stall(stream)


HOSTILE: dict[str, str] = {
    'done-then-stall': 'the end marker, then the body left open',
    'keep-alives': 'a few words, then keep-alive comments forever',
    'bad-utf8': 'invalid UTF-8 in an event',
    'json-error': 'a 200 with a JSON error object instead of a stream',
    'json-completion': 'a 200 with a whole completion instead of a stream',
    'drop-mid-body': 'the connection closed inside an event',
    'bad-chunk-framing': 'a broken chunked-encoding size line',
    'stall-mid-body': 'a few words, then silence',
    'trickle-headers': 'one header byte every 0.1 s',
    'close-before-head': 'the connection closed before any response',
}
"""The hostile server's misbehaviours, chosen per request by its path."""


@asynccontextmanager
async def hostile_server() -> AsyncIterator[str]:
    """Run the hostile server for the block; yields its base URL (the path picks the misbehaviour)."""

    async def connection(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                request = b''
                while b'\r\n\r\n' not in request:
                    request += await stream.receive()
                head, _, body = request.partition(b'\r\n\r\n')
                length = int(
                    next(
                        (
                            line.split(b':')[1]
                            for line in head.split(b'\r\n')
                            if line.lower().startswith(b'content-length')
                        ),
                        b'0',
                    )
                )
                while len(body) < length:
                    body += await stream.receive()
                name = head.split(b' ')[1].decode().split('/')[1]
                await _hostile(name, stream)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    listener = await anyio.create_tcp_listener(local_host='127.0.0.1')
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, connection)
        try:
            yield f'http://127.0.0.1:{port}'
        finally:
            tg.cancel_scope.cancel()


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class SoakReport:
    """What a soak run saw."""

    streams: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    untyped: list[str] = field(default_factory=list)
    """Failures that were not a `ModelkitError` (must stay empty)."""
    lost: list[str] = field(default_factory=list)
    """Failures after the stream opened that carried no `partial_response` (must stay empty)."""
    fds_before: int = 0
    fds_after: int = 0

    @property
    def ok(self) -> bool:
        """True when every promise held."""
        return not self.untyped and not self.lost and self.fds_after <= self.fds_before

    def summary(self) -> str:
        """One line per outcome, then the verdict."""
        lines = [f'{self.streams} streams; fds {self.fds_before} -> {self.fds_after}']
        lines += [f'  {count:6d}  {outcome}' for outcome, count in self.outcomes.most_common()]
        lines += [f'  untyped: {u}' for u in self.untyped[:10]] + [
            f'  lost: {lost}' for lost in self.lost[:10]
        ]
        lines.append('OK' if self.ok else 'FAILED')
        return '\n'.join(lines)


def open_fds() -> int:
    """This process's open file descriptors (0 where the platform does not say)."""
    try:
        return len(os.listdir('/proc/self/fd'))
    except FileNotFoundError:
        return 0


async def _one(model: OpenAIModel, report: SoakReport, label: str, cancel_after: float | None) -> None:
    messages: list[Any] = [ModelRequest([UserPromptPart('Tell me about rivers.')])]
    opened = False
    try:
        with anyio.move_on_after(cancel_after if cancel_after is not None else float('inf')) as scope:
            async with model.request_stream(
                messages, {'timeout': STREAM_TIMEOUT_S}, ModelRequestParameters()
            ) as response:
                opened = True
                async for _ in response:
                    pass
        outcome = 'cancelled' if scope.cancelled_caught else 'complete'
    except ModelkitError as exc:
        outcome = type(exc).__name__
        before_open = isinstance(exc, ModelHTTPError) or (isinstance(exc, ModelAPIError) and not opened)
        if not before_open and exc.partial_response is None:
            report.lost.append(f'{label}: {exc!r}')
    except Exception as exc:
        outcome = f'untyped {type(exc).__name__}'
        report.untyped.append(f'{label}: {type(exc).__name__}: {exc}')
    report.outcomes[f'{label} -> {outcome}'] += 1


async def soak(
    streams: int = 300,
    concurrency: int = 300,
    *,
    seed: int = 0,
    cancel: bool = False,
    deadline_s: float = 60.0,
    transport: str = 'httpx',
) -> SoakReport:
    """Run `streams` streams, `concurrency` at once, against random faults; see the module docstring."""
    rng = random.Random(seed)
    report = SoakReport(streams=streams)
    config = EmulatorConfig(tokens=8, retry_after_ms=10, slow_first_byte=0.2, fault_after_tokens=3)
    # The emulator runs on its own loop in a thread, so its work does not hold up the client's.
    with Emulator(config) as emu:
        async with hostile_server() as hostile:
            report.fds_before = open_fds()
            await _run(emu, hostile, report, rng, streams, concurrency, cancel, deadline_s, transport)
            # The client is closed: every connection it held is gone; the servers' ends follow.
            for _ in range(100):
                report.fds_after = open_fds()
                if report.fds_after <= report.fds_before:
                    break
                await anyio.sleep(0.02)
    return report


async def _run(
    emu: Emulator,
    hostile: str,
    report: SoakReport,
    rng: random.Random,
    streams: int,
    concurrency: int,
    cancel: bool,
    deadline_s: float,
    transport: str,
) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client_class = httpx.AsyncClient
    if transport == 'aiohttp':
        from modelkit._aiohttp import AiohttpClient  # the `fast` extra: imported only when asked for

        client_class = AiohttpClient
    async with client_class(limits=limits) as client, client_class(limits=limits) as other:
        emulator = OpenAIProvider(
            base_url=emu.base_url('openai'), api_key=emu.api_key, http_client=client, max_retries=1
        )
        emulator._transport.initial_backoff = 0.01  # retries without the real waits
        limiter = anyio.CapacityLimiter(concurrency)

        async def run(index: int) -> None:
            async with limiter:
                if rng.random() < 0.5:
                    fault = rng.choice(EMULATOR_FAULTS)
                    name = (
                        'gpt-4o'
                        if fault == 'none'
                        else f'gpt-4o+fault={fault}+fault-after={rng.randint(0, 6)}'
                    )
                    model, label = OpenAIModel(name, provider=emulator), f'emulator {fault}'
                else:
                    behaviour = rng.choice(list(HOSTILE))
                    provider = OpenAIProvider(
                        base_url=f'{hostile}/{behaviour}', api_key='k', http_client=other, max_retries=0
                    )
                    model, label = OpenAIModel('m', provider=provider), f'hostile {behaviour}'
                cancel_after = rng.uniform(0, 0.3) if cancel else None
                await _one(model, report, label, cancel_after)

        with anyio.fail_after(deadline_s):
            async with anyio.create_task_group() as tg:
                for index in range(streams):
                    tg.start_soon(run, index)


def main(argv: list[str] | None = None) -> int:
    """The long run: `python -m benchmarks.soak [--streams N] [--concurrency N] [--seed N]`."""
    parser = argparse.ArgumentParser(prog='python -m benchmarks.soak', description=__doc__)
    parser.add_argument('--streams', type=int, default=5000)
    parser.add_argument('--concurrency', type=int, default=300)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--backend', choices=('asyncio', 'trio', 'both'), default='both')
    parser.add_argument(
        '--transport', choices=('httpx', 'aiohttp'), default='httpx', help='aiohttp: asyncio only'
    )
    args = parser.parse_args(argv)
    backends = ('asyncio', 'trio') if args.backend == 'both' else (args.backend,)
    if args.transport == 'aiohttp':
        backends = tuple(b for b in backends if b == 'asyncio')  # aiohttp does not run on trio
    ok = True
    for backend in backends:
        for cancel in (False, True):
            deadline = max(60.0, args.streams / 10)
            report = anyio.run(
                lambda cancel=cancel, deadline=deadline: soak(
                    args.streams,
                    args.concurrency,
                    seed=args.seed,
                    cancel=cancel,
                    deadline_s=deadline,
                    transport=args.transport,
                ),
                backend=backend,
            )
            print(f'== {backend}, {args.transport}, {"random cancellation" if cancel else "random faults"}')
            print(report.summary())
            ok = ok and report.ok
    return 0 if ok else 1


if __name__ == '__main__':
    raise SystemExit(main())
