"""Where `modelkit chat` and `modelkit bench` send requests: a model string, or an emulator.

The bench runs its default emulator in a child process so the emulator's CPU time never counts
as the client's: the "client CPU per 1,000 tokens" figure then measures modelkit alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from ..exceptions import UserError

if TYPE_CHECKING:
    from ..models import Model

__all__ = ('EMULATOR_MODEL_NAME', 'EmulatorProcess', 'EmulatorSettings', 'build_model', 'emulator_model')

EMULATOR_MODEL_NAME = 'emulator'
"""The model name sent to an emulator; it answers for any name."""

READY_MARKER = 'MODELKIT_EMULATOR_READY '
"""Prefix of the line the child prints once it listens; anything else it prints is ignored."""

STARTUP_TIMEOUT_S = 30.0
"""How long to wait for the child to listen: a cold interpreter start plus imports, with room
for a slow CI machine; a child that dies sooner is reported at once."""

SHUTDOWN_TIMEOUT_S = 5.0
"""How long the child gets to exit after its stdin closes before it is terminated."""


def build_model(
    model: str,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    max_retries: int | None = None,
) -> Model:
    """The `Model` for a `vendor:model` string, optionally at another base URL, key or retry count."""
    from ..models import interface_for
    from ..providers import infer_provider

    kwargs: dict[str, Any] = {}
    if max_retries is not None:
        kwargs['max_retries'] = max_retries
    if base_url is not None:
        kwargs['base_url'] = base_url
    if api_key_env is not None:
        kwargs['api_key'] = read_key(api_key_env)
    model_cls, provider_name, model_name = interface_for(model)
    provider = infer_provider(provider_name, **kwargs)
    result: Model = model_cls(model_name, provider=provider)
    return result


def read_key(env_var: str) -> str:
    """The API key in environment variable `env_var`, or a `UserError` naming the variable."""
    key = os.environ.get(env_var)
    if not key:
        raise UserError(f'environment variable {env_var} is not set (it was named by --api-key-env)')
    return key


def emulator_model(
    base_url: str, api_key: str, model_name: str = EMULATOR_MODEL_NAME, *, max_retries: int = 0
) -> Model:
    """An OpenAI chat model pointed at an emulator's OpenAI-compatible base URL."""
    from ..models.openai import OpenAIModel
    from ..providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=base_url, api_key=api_key, max_retries=max_retries)
    return OpenAIModel(model_name, provider=provider)


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """How the embedded emulator answers every request."""

    tokens: int = 64
    """Output tokens per response."""
    tokens_per_second: float = 200.0
    """Streaming speed of each response."""
    ttft_ms: float = 50.0
    """Milliseconds before the first token."""
    seed: int = 0


class EmulatorProcess:
    """The emulator in a child Python process, for the length of a `with` block.

    The child exits when its stdin closes, so it cannot outlive this process even after a crash.
    """

    base_url: str
    """The OpenAI base URL (ending `/v1`), which the bench's model uses."""
    base_urls: dict[str, str]
    """Every vendor's base URL by model-string prefix (`Emulator.base_url` in the child)."""
    api_key: str

    def __init__(self, settings: EmulatorSettings, *, host: str = '127.0.0.1') -> None:
        self._settings = settings
        self._host = host
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._pump: threading.Thread | None = None

    def __enter__(self) -> EmulatorProcess:
        s = self._settings
        spec = {
            'host': self._host,
            'tokens': s.tokens,
            'tokens_per_second': s.tokens_per_second,
            'ttft_ms': s.ttft_ms,
            'seed': s.seed,
        }
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, '-m', 'modelkit.bench.emulator_process', json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        try:
            ready = self._wait_ready(self._proc)
        except BaseException:
            self._stop()
            raise
        self.base_urls = dict(ready['base_urls'])
        self.base_url = self.base_urls['openai']
        self.api_key = ready['api_key']
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        assert proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = proc.stdout

        def pump() -> None:
            # A thread, because a pipe read with a timeout has no portable form; it keeps draining
            # after the ready line so a chatty child never blocks on a full pipe.
            ready = False
            for line in iter(stdout.readline, b''):
                if not ready:
                    lines.put(line)
                    ready = line.startswith(READY_MARKER.encode())
            lines.put(b'')

        self._pump = threading.Thread(target=pump, name='modelkit-emulator-stdout', daemon=True)
        self._pump.start()
        while True:
            try:
                line = lines.get(timeout=STARTUP_TIMEOUT_S)
            except queue.Empty:
                raise RuntimeError(
                    f'the emulator process did not start listening within {STARTUP_TIMEOUT_S:g} s'
                ) from None
            if not line:
                proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
                raise RuntimeError(
                    f'the emulator process exited ({proc.returncode}): {self._last_stderr_line()}'
                )
            text = line.decode('utf-8', 'replace')
            if text.startswith(READY_MARKER):
                ready: dict[str, Any] = json.loads(text[len(READY_MARKER) :])
                return ready

    def _last_stderr_line(self) -> str:
        if self._stderr is None:
            return 'no output'
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode('utf-8', 'replace').splitlines() if ln.strip()]
        return lines[-1].strip() if lines else 'no output'

    def _stop(self) -> None:
        proc = self._proc
        if proc is not None:
            self._proc = None
            if proc.stdin is not None:
                with contextlib.suppress(OSError):  # the child is already gone
                    proc.stdin.close()
            try:
                proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if self._pump is not None:
                # The child has exited, so the pump sees end-of-file and stops promptly.
                self._pump.join(timeout=SHUTDOWN_TIMEOUT_S)
                self._pump = None
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
