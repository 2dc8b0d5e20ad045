"""Run the benchmarks: `python -m benchmarks [--quick] [--only sse,e2e,...] [--json FILE]` (see README.md)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

from ._harness import Result
from ._stream import DEFAULT_CONTENT_CHUNKS, DEFAULT_SEED, build_openai_stream

BENCHMARKS = (
    'sse',
    'eventstream',
    'gemini-decode',
    'e2e',
    'import',
    'loopback',
    'structured',
    'anthropic',
    'cohere',
    'bedrock',
    'openaifam',
    'gemini',
)
PACKAGES = (
    'modelkit-wire',
    'httpx',
    'pydantic',
    'orjson',
    'openai',
    'httpx2',
    'pydantic-ai-slim',
    'litellm',
    'httpx-sse',
    'botocore',
    'anthropic',
)


def package_versions() -> dict[str, str]:
    """Installed versions of modelkit, its core dependencies and the peers (`-` when missing)."""
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = '-'
    return versions


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen benchmarks, print their tables, optionally save JSON."""
    parser = argparse.ArgumentParser(prog='python -m benchmarks', description=__doc__)
    parser.add_argument('--quick', action='store_true', help='fewer repeats (a rough look in under a minute)')
    parser.add_argument(
        '--only', default=','.join(BENCHMARKS), help=f'comma-separated subset of {",".join(BENCHMARKS)}'
    )
    parser.add_argument('--repeats', type=int, help='timed runs per contender (default 7, --quick 3)')
    parser.add_argument(
        '--chunks', type=int, default=DEFAULT_CONTENT_CHUNKS, help='content chunks per stream'
    )
    parser.add_argument('--seed', type=int, default=DEFAULT_SEED, help='seed for the stream and its cuts')
    parser.add_argument(
        '--no-peers',
        action='store_true',
        help='only the floor and modelkit (fast, for iterating on modelkit)',
    )
    parser.add_argument('--json', type=Path, metavar='FILE', help='save every raw number to FILE')
    args = parser.parse_args(argv)

    chosen = [name.strip() for name in args.only.split(',') if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f'unknown benchmark(s) {", ".join(unknown)}; choose from {", ".join(BENCHMARKS)}')
    repeats = args.repeats or (3 if args.quick else 7)

    versions = package_versions()
    print(f'Python {platform.python_version()} on {platform.machine()}, {sys.executable}')
    print(', '.join(f'{name} {version}' for name, version in versions.items()))
    started = time.perf_counter()
    stream = build_openai_stream(args.chunks, args.seed)
    results: list[Result] = []
    if 'sse' in chosen:
        from . import sse_decode

        results += sse_decode.run(stream, repeats, peers=not args.no_peers)
    if 'eventstream' in chosen:
        from . import eventstream_decode

        results += eventstream_decode.run(args.chunks, repeats, peers=not args.no_peers)
    if 'gemini-decode' in chosen:
        from . import gemini_decode

        results += gemini_decode.run(args.chunks, repeats)
    if 'e2e' in chosen:
        from . import end_to_end

        if args.quick:
            results += end_to_end.run(stream, repeats, budget_s=5.0, min_runs=1, peers=not args.no_peers)
        else:
            results += end_to_end.run(stream, repeats, peers=not args.no_peers)
    if 'import' in chosen:
        from . import cold_import

        results += cold_import.run(cold_import.QUICK_REPEATS if args.quick else cold_import.REPEATS)
    if 'loopback' in chosen:
        from . import loopback

        results += loopback.run(
            loopback.QUICK_REQUESTS if args.quick else loopback.REQUESTS,
            args.repeats or (loopback.QUICK_REPEATS if args.quick else loopback.REPEATS),
            peers=not args.no_peers,
        )
    if 'structured' in chosen:
        from . import structured_stream

        results += structured_stream.run(repeats, args.seed)
    if 'anthropic' in chosen:
        from . import vendor_anthropic

        results += vendor_anthropic.run(args.chunks, repeats, quick=args.quick, peers=not args.no_peers)
    if 'cohere' in chosen:
        from . import vendor_cohere

        results += vendor_cohere.run(
            repeats, quick=args.quick, peers=not args.no_peers, chunks=args.chunks, seed=args.seed
        )
    if 'bedrock' in chosen:
        from . import vendor_bedrock
        from .cold_import import QUICK_REPEATS, REPEATS

        results += vendor_bedrock.run(
            args.chunks, repeats, QUICK_REPEATS if args.quick else REPEATS, peers=not args.no_peers
        )
    if 'openaifam' in chosen:
        from . import vendor_openaifam

        results += vendor_openaifam.run(
            args.chunks, args.seed, repeats, quick=args.quick, peers=not args.no_peers
        )
    if 'gemini' in chosen:
        from . import vendor_gemini

        results += vendor_gemini.run(
            args.chunks,
            repeats,
            budget_s=5.0 if args.quick else 20.0,
            peers=not args.no_peers,
            seed=args.seed,
        )
    print(f'\nTotal {time.perf_counter() - started:.0f} s.')

    if args.json:
        payload = {
            'python': platform.python_version(),
            'machine': platform.machine(),
            'seed': args.seed,
            'content_chunks': args.chunks,
            'repeats': repeats,
            'versions': versions,
            'results': [r.as_json() for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2))
        print(f'Raw numbers saved to {args.json}')
    missed = [r for r in results if r.verdict == 'MISS']
    return 1 if missed else 0


if __name__ == '__main__':
    sys.exit(main())
