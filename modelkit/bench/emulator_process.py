"""Child-process entry point for the bench's embedded emulator (`EmulatorProcess` starts it).

Usage: `python -m modelkit.bench.emulator_process '{"tokens": 64, ...}'`. Prints one ready line
with the URL and key as JSON, then serves until its stdin closes (the parent finished or died).
"""

from __future__ import annotations

import gc
import json
import signal
import sys
from typing import Any

from .target import READY_MARKER


async def _serve(spec: dict[str, Any]) -> None:
    import anyio

    from ..emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(
        tokens=int(spec.get('tokens', 64)),
        tokens_per_second=float(spec.get('tokens_per_second', 200.0)),
        ttft=float(spec.get('ttft_ms', 50.0)) / 1000.0,
        seed=int(spec.get('seed') or 0),
    )
    async with Emulator(config, host=str(spec.get('host', '127.0.0.1')), port=0) as emulator:
        base_urls = {prefix: emulator.base_url(prefix) for prefix in emulator.prefixes}
        ready = {'url': emulator.url, 'base_urls': base_urls, 'api_key': emulator.api_key}
        # Everything alive now (the interpreter's modules, the vendors, the server: 25,000 objects)
        # lives as long as the child, yet the collector's full passes walked it all, twice in a
        # 500-request saturating run, stalling every stream for 15-20 ms each time: a spike in
        # the TTFT tail the bench measures. Frozen, a full pass walks only what serving allocated
        # (under 1 ms). Collected first so no garbage is frozen; nothing is being served yet.
        gc.collect()
        gc.freeze()
        sys.stdout.write(READY_MARKER + json.dumps(ready) + '\n')
        sys.stdout.flush()
        # Blocks in a worker thread until end-of-file; abandoned on cancel so shutdown never waits on it.
        await anyio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)


def main(argv: list[str] | None = None) -> None:
    """Run the emulator described by the JSON in `argv[0]` until stdin closes."""
    import anyio

    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0]) if args else {}
    # Ctrl-C reaches the whole process group: the parent decides when this child stops (by
    # closing stdin), so the child ignores SIGINT rather than printing a second traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    anyio.run(_serve, spec, backend_options=_loop_options())


def _loop_options() -> dict[str, Any]:
    # At full speed the emulator, not the client, is what a saturating run waits for: its event
    # loop's cost per written chunk adds to every time to first token it serves. uvloop (the
    # `fast` extra) spent 8-18% less CPU on the same 500-request run than asyncio's own loop.
    try:
        import uvloop
    except ModuleNotFoundError:
        return {}
    return {'loop_factory': uvloop.new_event_loop}


if __name__ == '__main__':
    main()
