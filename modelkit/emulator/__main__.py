"""`python -m modelkit.emulator --port N`: run the emulator until Ctrl-C."""

from __future__ import annotations

import argparse

from ._config import EmulatorConfig


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog='python -m modelkit.emulator',
        description="Serve the vendors' wire protocols locally, with scripted answers and faults.",
    )
    parser.add_argument('--host', default='127.0.0.1', help='address to bind (default: %(default)s)')
    parser.add_argument(
        '--port', type=int, default=8000, help='port to bind; 0 picks a free one (default: %(default)s)'
    )
    parser.add_argument(
        '--tokens', type=int, default=20, help='tokens per text answer (default: %(default)s)'
    )
    parser.add_argument(
        '--tps', type=float, default=0.0, help='tokens per second; 0 means unpaced (default: %(default)s)'
    )
    parser.add_argument('--ttft-ms', type=float, default=0.0, help='milliseconds before the first token')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed mixed with each prompt (default: %(default)s)'
    )
    parser.add_argument(
        '--api-key', default='emulator-key', help='the key clients must send (default: %(default)s)'
    )
    parser.add_argument('--any-key', action='store_true', help='accept any non-empty API key')
    parser.add_argument(
        '--backend', choices=('asyncio', 'trio'), default='asyncio', help='event loop to run on'
    )
    args = parser.parse_args(argv)
    try:
        config = EmulatorConfig(
            api_key=None if args.any_key else args.api_key,
            tokens=args.tokens,
            tokens_per_second=args.tps,
            ttft=args.ttft_ms / 1000,
            seed=args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))

    from ._server import serve_forever

    serve_forever(args.host, args.port, config, backend=args.backend)


if __name__ == '__main__':
    main()
