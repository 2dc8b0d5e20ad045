"""The `modelkit` command: chat with a model, list model prefixes, run the emulator, benchmark streams.

Importing this module is cheap (argparse and the standard library only): each command imports
what it needs when it runs, so `modelkit --help` and `modelkit models` start instantly.

Exit status: 0 on success, 1 when the work failed (an HTTP error, a dropped stream), 2 for a
usage error (a bad flag, an unknown model prefix, a missing API key), 130 after Ctrl-C. Errors
are one line on stderr, `modelkit: error: ...`; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from .bench import BenchConfig
    from .bench.processes import ModelSpec
    from .providers import Provider

__all__ = ('EXIT_ERROR', 'EXIT_INTERRUPTED', 'EXIT_USAGE', 'build_parser', 'main')

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, what shells report for a command stopped by Ctrl-C."""

PROG = 'modelkit'

EMULATOR_DEFAULT_TPS = 200.0
"""The bench's emulator pace: a fast hosted model's decode speed."""
EMULATOR_DEFAULT_TTFT_MS = 50.0
"""The bench's emulator time to first token: a short prompt on a warm hosted model."""

# Where each provider reads its credentials, for `modelkit models` while its module is not
# written yet: the key's environment variable (None where there is no single key) and what else
# it reads. Providers that exist answer for themselves (`api_key_env`, `base_url_env`).
PROVIDER_ENV: dict[str, tuple[str | None, str]] = {
    'azure': ('AZURE_OPENAI_API_KEY', 'AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION'),
    'anthropic': ('ANTHROPIC_API_KEY', ''),
    'google-gla': ('GEMINI_API_KEY', ''),
    'google-vertex': (None, 'Google application default credentials'),
    'groq': ('GROQ_API_KEY', ''),
    'mistral': ('MISTRAL_API_KEY', ''),
    'cohere': ('CO_API_KEY', ''),
    'bedrock': (None, 'the AWS credential chain (AWS_ACCESS_KEY_ID, AWS_REGION, ...)'),
}


class _UsageError(Exception):
    """A command line that parses but makes no sense (flags that do not go together)."""


class _CommandError(Exception):
    """A failure the command explains in its own words (exit 1, no exception name shown)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the --help hint says where the rest is.
        self.exit(EXIT_USAGE, f'{PROG}: error: {message} (see "{self.prog} --help")\n')


# --------------------------------------------------------------------------------------------
# Argument types
# --------------------------------------------------------------------------------------------


def _number(text: str, kind: type[int] | type[float], *, minimum: float, inclusive: bool) -> float:
    """Parse an argparse value as `kind`, at least (or above) `minimum` and finite."""
    try:
        value = kind(text)
    except ValueError:
        noun = 'a whole number' if kind is int else 'a number'
        raise argparse.ArgumentTypeError(f'expected {noun}, got {text!r}') from None
    ok = value >= minimum if inclusive else value > minimum
    if not ok or value == float('inf'):
        bound = f'at least {minimum:g}' if inclusive else f'above {minimum:g}'
        raise argparse.ArgumentTypeError(f'expected a number {bound}, got {text}')
    return value


def _positive_int(text: str) -> int:
    return int(_number(text, int, minimum=1, inclusive=True))


def _non_negative_int(text: str) -> int:
    return int(_number(text, int, minimum=0, inclusive=True))


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f'expected a port from 0 to 65535, got {value}')
    return value


def _positive_float(text: str) -> float:
    return _number(text, float, minimum=0, inclusive=False)


def _non_negative_float(text: str) -> float:
    return _number(text, float, minimum=0, inclusive=True)


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `modelkit` command and its subcommands."""
    from . import __version__

    common = _Parser(add_help=False)
    # SUPPRESS: `modelkit --debug chat` and `modelkit chat --debug` both work, neither resets the other.
    common.add_argument(
        '--debug', action='store_true', default=argparse.SUPPRESS, help='show the traceback of an error'
    )
    parser = _Parser(
        prog=PROG,
        description='Talk to LLM vendors over their own wire protocols; benchmark streamed responses.',
        parents=[common],
    )
    parser.add_argument('--version', action='version', version=f'{PROG} {__version__}')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND', parser_class=_Parser)

    chat = commands.add_parser(
        'chat',
        parents=[common],
        help='stream an answer, or hold a conversation on a terminal',
        description='Send one prompt and stream the answer; with no prompt on a terminal, hold a '
        'conversation (Ctrl-C stops an answer, Ctrl-D or /exit leaves). Keys come from the '
        'environment (see "modelkit models").',
    )
    chat.add_argument('prompt', nargs='?', help='the prompt; read from a piped stdin when omitted or "-"')
    chat.add_argument('-m', '--model', required=True, help='a model string such as openai:gpt-4o, or "test"')
    _add_target_flags(chat)
    chat.add_argument('--system', metavar='TEXT', help='a system prompt')
    chat.add_argument('--max-tokens', type=_positive_int, metavar='N', help='the most tokens to generate')
    chat.add_argument('--temperature', type=_non_negative_float, metavar='T', help='sampling temperature')
    chat.add_argument('--usage', action='store_true', help='print token usage and timing to stderr')
    chat.set_defaults(handler=_cmd_chat)

    models = commands.add_parser(
        'models',
        parents=[common],
        help='list model prefixes and providers',
        description='List the model-string prefixes and where each provider reads its key.',
    )
    models.set_defaults(handler=_cmd_models)

    emulate = commands.add_parser(
        'emulate',
        parents=[common],
        help='run the vendor emulator (OpenAI-compatible and more) until Ctrl-C',
        description='Serve the built-in vendor emulator on a local port until Ctrl-C.',
    )
    emulate.add_argument('--host', default='127.0.0.1', help='address to listen on (default: %(default)s)')
    emulate.add_argument(
        '--port',
        type=_port,
        default=8400,
        help='port to listen on; 0 picks a free one (default: %(default)s)',
    )
    emulate.add_argument('--api-key', metavar='KEY', help='the key clients must send (default: emulator-key)')
    from .emulator._config import DEFAULT_AWS_ACCESS_KEY_ID, DEFAULT_AWS_SECRET_ACCESS_KEY

    emulate.add_argument(
        '--aws-access-key-id',
        metavar='ID',
        help=f'the access key id Bedrock requests must be signed with (default: {DEFAULT_AWS_ACCESS_KEY_ID})',
    )
    emulate.add_argument(
        '--aws-secret-access-key',
        metavar='SECRET',
        help='the secret Bedrock SigV4 signatures are checked with '
        f'(default: {DEFAULT_AWS_SECRET_ACCESS_KEY})',
    )
    _add_emulator_flags(emulate, prefix='')
    emulate.set_defaults(handler=_cmd_emulate)

    bench = commands.add_parser(
        'bench',
        parents=[common],
        help='measure streaming latency and throughput (default: against the emulator)',
        description='Send streamed requests and report time to first token, inter-token latency, '
        'end-to-end latency and throughput. With no model, runs against the built-in emulator in a '
        'separate process, so only the client CPU is measured.',
    )
    bench.add_argument(
        '-m', '--model', help='a model string such as openai:gpt-4o (default: the embedded emulator)'
    )
    _add_target_flags(bench)
    load = bench.add_argument_group('load')
    load.add_argument(
        '-c',
        '--concurrency',
        type=_positive_int,
        metavar='N',
        help='streams in flight (default: 8; with --rate, no cap)',
    )
    load.add_argument(
        '-n', '--requests', type=_positive_int, metavar='N', help='measured requests (default: 64)'
    )
    load.add_argument(
        '-d', '--duration', type=_positive_float, metavar='S', help='send new requests for S seconds'
    )
    load.add_argument(
        '--rate', type=_positive_float, metavar='R', help='open loop: Poisson arrivals at R requests/s'
    )
    load.add_argument(
        '--warmup',
        type=_non_negative_int,
        metavar='N',
        help='requests sent first and left out (default: one per stream)',
    )
    prompt = load.add_mutually_exclusive_group()
    prompt.add_argument('--prompt', metavar='TEXT', help='the prompt every request sends')
    prompt.add_argument(
        '--prompt-tokens', type=_positive_int, metavar='N', help='a synthetic prompt of about N tokens'
    )
    load.add_argument(
        '--max-tokens',
        type=_positive_int,
        default=64,
        metavar='N',
        help='output tokens per request (default: 64)',
    )
    load.add_argument(
        '--timeout',
        type=_positive_float,
        default=60.0,
        metavar='S',
        help='seconds per network operation (default: 60)',
    )
    load.add_argument(
        '--seed', type=int, default=0, help='seeds arrivals and the synthetic prompt (default: 0)'
    )
    client = bench.add_argument_group('client')
    client.add_argument(
        '--loop',
        choices=('asyncio', 'uvloop', 'trio'),
        help='the event loop to measure on (default: uvloop when installed, else asyncio)',
    )
    client.add_argument(
        '--processes',
        type=_positive_int,
        default=1,
        metavar='N',
        help='split the load over N processes on this machine (default: 1); the figures are '
        'computed on every request of all of them',
    )
    client.add_argument(
        '--ray',
        metavar='ADDRESS',
        help='run the load on a Ray cluster: "auto" (the one running on this machine) or its address; '
        'needs the `ray` extra and --workers',
    )
    client.add_argument(
        '--workers',
        type=_positive_int,
        metavar='W',
        help='with --ray: split the load over W Ray actors of one CPU each, spread across the nodes',
    )
    client.add_argument(
        '--placement-timeout',
        type=_positive_float,
        default=60.0,
        metavar='S',
        help='with --ray: seconds the workers get to be placed and started (default: 60)',
    )
    out = bench.add_argument_group('output')
    out.add_argument('--json', metavar='FILE', help='write every request record and the summary as JSON')
    out.add_argument('--plot', metavar='FILE', help='write an SVG of latency distributions and throughput')
    bench.add_argument(
        '--max-retries',
        type=int,
        default=0,
        metavar='N',
        help='retries per request on 429/5xx/connect errors (default: 0, so errors are counted, not hidden)',
    )
    out.add_argument('-q', '--quiet', action='store_true', help='no progress on stderr')
    emulator = bench.add_argument_group('emulator (when no --model is given)')
    _add_emulator_flags(emulator, prefix='emulator-')
    bench.set_defaults(handler=_cmd_bench)
    return parser


def _add_target_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--base-url', metavar='URL', help="send requests here instead of the provider's URL")
    parser.add_argument(
        '--api-key-env',
        metavar='VAR',
        help="read the API key from this environment variable instead of the provider's",
    )


def _add_emulator_flags(group: Any, *, prefix: str) -> None:
    # The bench names these --emulator-*, because there they describe the server, not the load;
    # its defaults are a realistic pace, the emulator's own are "as fast as possible".
    from .emulator import EmulatorConfig  # a plain dataclass: cheap, and its defaults are the truth

    bench = bool(prefix)
    own = EmulatorConfig()
    tps, ttft_ms = (
        (EMULATOR_DEFAULT_TPS, EMULATOR_DEFAULT_TTFT_MS)
        if bench
        else (own.tokens_per_second, own.ttft * 1000)
    )
    if not bench:
        group.add_argument(
            '--tokens',
            type=_positive_int,
            metavar='N',
            help=f'output tokens per answer (default: {own.tokens})',
        )
    group.add_argument(
        f'--{prefix}tps',
        type=_non_negative_float,
        metavar='X',
        help=f'tokens per second of each stream; 0 sends them as fast as possible (default: {tps:g})',
    )
    group.add_argument(
        f'--{prefix}ttft-ms',
        type=_non_negative_float,
        metavar='MS',
        help=f'milliseconds to the first token (default: {ttft_ms:g})',
    )
    if not bench:
        group.add_argument('--seed', type=int, help=f'seed for the generated text (default: {own.seed})')


# --------------------------------------------------------------------------------------------
# Entry point and error reporting
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `modelkit` command with `argv` (default: the process arguments); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, 'debug', False))
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, 'handler', None)
    if handler is None:
        sys.stderr.write(
            f'{PROG}: error: choose a command: chat, models, emulate or bench (see "{PROG} --help")\n'
        )
        return EXIT_USAGE
    try:
        return handler(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`modelkit chat ... | head -1`): stop quietly, and keep Python's
        # final flush from raising again on the dead pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        leaf = _leaf(exc)
        if isinstance(leaf, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        line, status = _describe_error(leaf)
        plain = status == EXIT_USAGE or isinstance(leaf, _CommandError)
        hint = '' if debug or plain else ' (--debug shows the traceback)'
        sys.stderr.write(f'{PROG}: error: {line}{hint}\n')
        return status


def _leaf(exc: BaseException) -> BaseException:
    # Task groups wrap a lone failure in exception groups; the user wants the failure itself.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _describe_error(exc: BaseException) -> tuple[str, int]:
    from .bench.harness import BenchError
    from .exceptions import ModelkitError, UserError

    text = ' '.join(str(exc).split())
    if isinstance(exc, UserError | _UsageError):
        return text, EXIT_USAGE
    if isinstance(exc, BenchError | _CommandError):
        return text, EXIT_ERROR
    if isinstance(exc, ModelkitError):
        return f'{type(exc).__name__}: {text}', EXIT_ERROR
    if isinstance(exc, OSError) and exc.filename is not None:
        return f'{exc.strerror or text}: {exc.filename}', EXIT_ERROR
    return (f'{type(exc).__name__}: {text}' if text else type(exc).__name__), EXIT_ERROR


# --------------------------------------------------------------------------------------------
# modelkit chat (in its own module: the conversation, and the wording for model strings)
# --------------------------------------------------------------------------------------------


def _cmd_chat(args: argparse.Namespace) -> int:
    from ._cli_chat import cmd_chat

    return cmd_chat(args)


# --------------------------------------------------------------------------------------------
# modelkit models
# --------------------------------------------------------------------------------------------


def _cmd_models(args: argparse.Namespace) -> int:
    from .providers import known_providers

    out = sys.stdout
    from ._cli_chat import NOT_BUILT_MARK, marked_prefixes

    listing, pending = marked_prefixes()
    out.write('Model strings are PREFIX:MODEL-NAME, e.g. openai:gpt-4o ("test" needs no prefix).\n\n')
    out.write('Prefixes:\n')
    out.write(_wrap(listing, indent='  ') + '\n')
    if pending:
        out.write(f'  ({NOT_BUILT_MARK} not built in this version yet)\n')
    out.write('\n')
    rows = [('provider', 'key', 'set', 'also reads')]
    for name in known_providers():
        key, extra, available = _provider_env(name)
        is_set = '-' if key is None else ('yes' if os.environ.get(key) else 'no')
        if not available:
            extra = f'{extra}; not in this version yet' if extra else 'not in this version yet'
        rows.append((name, key or '-', is_set, extra))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write(('  ' + '  '.join([*cells, row[3]])).rstrip() + '\n')
    out.write(
        '\nNo key? "modelkit chat -m test" needs none; or run "modelkit emulate" and point '
        '"modelkit chat --base-url" at it with the key it accepts, emulator-key.\n'
    )
    return 0


def _provider_env(name: str) -> tuple[str | None, str, bool]:
    """The provider's key variable, what else it reads, and whether its module exists.

    Providers that exist say it themselves (`Provider.api_key_env` / `base_url_env`, declared on
    every provider class); `PROVIDER_ENV` only adds what a class attribute cannot say.
    """
    from importlib import import_module

    from .providers import _PROVIDERS

    module_name, class_name = _PROVIDERS[name]
    key, extra = PROVIDER_ENV.get(name, (None, ''))
    try:
        module = import_module(f'modelkit.providers.{module_name}')
    except ModuleNotFoundError:
        return key, extra, False
    cls: type[Provider] = getattr(module, class_name)
    also = [extra or cls.base_url_env, 'key optional' if not cls.key_required and cls.api_key_env else None]
    return cls.api_key_env or key, ', '.join(x for x in also if x), True


def _wrap(text: str, *, indent: str, width: int = 96) -> str:
    import textwrap

    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)


# --------------------------------------------------------------------------------------------
# modelkit emulate
# --------------------------------------------------------------------------------------------


def _cmd_emulate(args: argparse.Namespace) -> int:
    import anyio

    try:
        anyio.run(_emulate, args)
    except Exception as exc:
        leaf = _leaf(exc)
        if isinstance(leaf, OSError) and leaf.errno == errno.EADDRINUSE:
            raise _CommandError(
                f'port {args.port} on {args.host} is already in use (another emulator?): '
                'choose another with --port N, or --port 0 to take any free one'
            ) from None
        raise
    return 0


async def _emulate(args: argparse.Namespace) -> None:
    import anyio

    from .emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(**_emulator_config_kwargs(args))
    async with Emulator(config, host=args.host, port=args.port) as emulator:
        # The ready line, each vendor's base URL and its environment lines (emulator/_server.py).
        sys.stdout.write('\n'.join(emulator.startup_lines()) + '\n')
        sys.stdout.flush()
        await anyio.sleep_forever()


def _emulator_config_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if args.api_key is not None:
        kwargs['api_key'] = args.api_key
    if args.tokens is not None:
        kwargs['tokens'] = args.tokens
    if args.tps is not None:
        kwargs['tokens_per_second'] = args.tps
    if args.ttft_ms is not None:
        kwargs['ttft'] = args.ttft_ms / 1000.0
    if args.seed is not None:
        kwargs['seed'] = args.seed
    if args.aws_access_key_id is not None:
        kwargs['aws_access_key_id'] = args.aws_access_key_id
    if args.aws_secret_access_key is not None:
        kwargs['aws_secret_access_key'] = args.aws_secret_access_key
    return kwargs


# --------------------------------------------------------------------------------------------
# modelkit bench
# --------------------------------------------------------------------------------------------


def _cmd_bench(args: argparse.Namespace) -> int:
    try:
        return _cmd_bench_run(args)
    finally:
        placement = getattr(args, 'ray_placement', None)
        if placement is not None:
            placement.kill()  # when the run never began (its own end kills them too)
        cluster = getattr(args, 'ray_cluster', None)
        if cluster is not None:
            cluster.disconnect()


def _cmd_bench_run(args: argparse.Namespace) -> int:
    from .bench import BenchConfig, Progress

    embedded = args.model is None and args.base_url is None
    emulator_flags = args.emulator_tps is not None or args.emulator_ttft_ms is not None
    if args.model is not None and emulator_flags:
        raise _UsageError('--emulator-tps and --emulator-ttft-ms apply to the emulator, not to --model')
    if args.requests is not None and args.duration is not None:
        raise _UsageError(
            'give -n (a number of requests) or -d (seconds of sending), not both: '
            'the run would end at whichever came first'
        )
    if args.model is not None:
        from ._cli_chat import check_model_string

        check_model_string(args.model)
    config = BenchConfig(
        requests=args.requests,
        duration=args.duration,
        concurrency=args.concurrency,
        rate=args.rate,
        warmup=args.warmup,
        prompt=args.prompt,
        prompt_tokens=args.prompt_tokens,
        max_tokens=args.max_tokens,
        timeout=args.timeout,
        seed=args.seed,
    )
    for flag, path in (('--json', args.json), ('--plot', args.plot)):
        # Checked now, not after a long run whose figures would then have nowhere to go.
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise _UsageError(f'{flag} {path}: the directory does not exist')
    if args.ray is not None:
        args.ray_cluster = _connect_ray(args, embedded)
    elif args.workers is not None:
        raise _UsageError('--workers applies to --ray (on this machine alone, use --processes N)')
    progress = Progress(sys.stderr, enabled=not args.quiet)
    from .bench.processes import ModelSpec

    if args.model is not None:
        target = {'kind': 'model', 'model': args.model, 'base_url': args.base_url}
        spec = ModelSpec(args.model, args.base_url, None, args.api_key_env, args.max_retries)
        return _run_bench(args, config, spec, target, progress)

    tps = args.emulator_tps if args.emulator_tps is not None else EMULATOR_DEFAULT_TPS
    ttft_ms = args.emulator_ttft_ms if args.emulator_ttft_ms is not None else EMULATOR_DEFAULT_TTFT_MS
    from .bench.target import EmulatorProcess, EmulatorSettings, read_key

    if not embedded:
        base_url: str = args.base_url
        key = read_key(args.api_key_env) if args.api_key_env else 'emulator-key'
        # A server started by someone else answers at its own pace: the report describes it by
        # its URL, and states a pace only when the flags asked it for one.
        target = {'kind': 'server', 'model': 'emulator', 'base_url': base_url}
        if emulator_flags:
            config.extra_headers = _emulator_headers(args.max_tokens, tps, ttft_ms)
            target['requested'] = {'tokens': args.max_tokens, 'tokens_per_second': tps, 'ttft_ms': ttft_ms}
        return _run_bench(
            args, config, ModelSpec(None, base_url, key, None, args.max_retries), target, progress
        )

    config.extra_headers = _emulator_headers(args.max_tokens, tps, ttft_ms)
    settings = EmulatorSettings(
        tokens=args.max_tokens, tokens_per_second=tps, ttft_ms=ttft_ms, seed=args.seed
    )
    with EmulatorProcess(settings) as emulator:
        target = {
            'kind': 'emulator',
            'embedded': True,
            'model': 'emulator',
            'base_url': emulator.base_url,
            'tokens': args.max_tokens,
            'tokens_per_second': tps,
            'ttft_ms': ttft_ms,
        }
        spec = ModelSpec(None, emulator.base_url, emulator.api_key, None, args.max_retries)
        return _run_bench(args, config, spec, target, progress)


def _connect_ray(args: argparse.Namespace, embedded: bool) -> Any:
    if args.processes > 1:
        raise _UsageError('give --ray (a cluster) or --processes (this machine), not both')
    if args.workers is None:
        raise _UsageError('--ray needs --workers W: the number of Ray actors to split the load over')
    try:
        from .bench.ray import check_cluster, connect, place
    except ModuleNotFoundError as exc:
        if exc.name != 'ray':
            raise
        raise _UsageError(
            "--ray needs Ray, which comes with the `ray` extra: pip install 'modelkit-wire[ray]'"
        ) from None
    cluster = connect(args.ray)
    try:
        check_cluster(cluster, args.workers, embedded=embedded, base_url=args.base_url)
        # Asked for now, so that their start overlaps the emulator's.
        args.ray_placement = place(cluster, args.workers, model=args.model, api_key_env=args.api_key_env)
    except BaseException:
        cluster.disconnect()
        raise
    return cluster


def _run_ray(
    args: argparse.Namespace, config: BenchConfig, spec: ModelSpec, target: dict[str, Any]
) -> tuple[Any, list[Any]]:
    from .bench.ray import run_ray

    def placed(workers: list[dict[str, Any]]) -> None:
        if not args.quiet:
            where = ', '.join(f'worker {w["worker"]} on {w["node"]} (pid {w["pid"]})' for w in workers)
            sys.stderr.write(f'bench: {len(workers)} Ray workers placed: {where}; warming up\n')
        from . import __version__

        others = sorted({str(w['version']) for w in workers if w['version'] != __version__})
        if others:
            sys.stderr.write(
                f'bench: warning: workers run modelkit {", ".join(others)}, this machine {__version__}\n'
            )

    def started() -> None:
        if not args.quiet:
            sys.stderr.write(f'bench: all {args.workers} Ray workers warmed up; measuring\n')

    return run_ray(
        spec,
        config,
        args.workers,
        cluster=args.ray_cluster,
        loop=args.loop,
        target=target,
        placement_timeout=args.placement_timeout,
        on_placed=placed,
        on_start=started,
        placement=args.ray_placement,
    )


def _emulator_headers(tokens: int, tps: float, ttft_ms: float) -> dict[str, str]:
    # The embedded emulator is started with these settings; the headers say it per request too.
    return {
        'x-emulator-tokens': str(tokens),
        'x-emulator-tps': f'{tps:g}',
        'x-emulator-ttft-ms': f'{ttft_ms:g}',
    }


def _run_bench(
    args: argparse.Namespace,
    config: BenchConfig,
    spec: ModelSpec,
    target: dict[str, Any],
    progress: Any,
) -> int:
    import anyio

    from .bench.processes import bench_model, default_loop, run_on_loop, run_processes
    from .bench.report import format_table, write_json

    loop = args.loop or default_loop()

    async def stop_on_ctrl_c(stop: anyio.Event) -> None:
        # A signal received in the loop, not a KeyboardInterrupt: the run then ends cleanly
        # with what completed, and its figures are still printed and written.
        import signal

        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                stop.set()
                return

    failures: list[Any] = []
    if args.ray is not None:
        result, failures = _run_ray(args, config, spec, target)
    elif args.processes > 1:
        if not args.quiet:
            sys.stderr.write(
                f'bench: {args.processes} processes on {loop}; warming up, then measuring together\n'
            )

        def started() -> None:
            if not args.quiet:
                sys.stderr.write(f'bench: all {args.processes} processes warmed up; measuring\n')

        result, failures = run_processes(
            spec, config, args.processes, loop=loop, target=target, on_start=started
        )
    else:
        result = run_on_loop(
            lambda: bench_model(spec, config, target=target, watch=stop_on_ctrl_c, progress=progress), loop
        )
    sys.stdout.write(format_table(result))
    sys.stdout.flush()
    if args.json:
        write_json(result, args.json)
        if not args.quiet:
            sys.stderr.write(f'bench: wrote {args.json}\n')
    if args.plot:
        from .bench.plot import write_svg

        write_svg(result, args.plot)
        if not args.quiet:
            sys.stderr.write(f'bench: wrote {args.plot}\n')
    if failures:
        for failure in failures:
            sys.stderr.write(
                f'{PROG}: error: {failure.describe()}; the run was stopped, and the report covers '
                f'the requests the other {"workers" if args.ray else "processes"} completed\n'
            )
        return EXIT_ERROR
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.summary.requests and not result.summary.succeeded:
        sys.stderr.write(f'{PROG}: error: every measured request failed (the errors are listed above)\n')
        return EXIT_ERROR
    return 0
