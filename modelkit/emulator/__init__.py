"""A local HTTP/1.1 server that speaks the vendors' wire protocols at their real paths.

Tests, benchmarks and `modelkit emulate` point clients at it instead of a vendor: answers are
deterministic (words chosen from a seed and the prompt), paced at a configurable rate, and can be
told per request to fail the ways real vendors fail (429 with Retry-After, 5xx, an error inside
the stream, a dropped or truncated stream).

```python
async with Emulator() as emu:
    ...  # OpenAI clients: base_url=emu.base_url('openai'), api_key=emu.api_key
    ...  # Anthropic clients: base_url=emu.base_url('anthropic'), api_key=emu.api_key
```

`emu.prefixes` lists the vendor protocols served (by model-string prefix); `emu.startup_lines()`
is what `modelkit emulate` prints: each vendor's base URL and the environment lines to paste.

Per-request control, by header or by options after `+` in the model name
(`gpt-4o+tokens=5+fault=429+fault-times=1`):

| option (`x-emulator-<name>` header or `+<name>=`) | effect |
|---|---|
| `tokens` | tokens in a text answer |
| `tps` | tokens per second (0: no pacing) |
| `ttft-ms` | milliseconds before the first token |
| `fault` | `429`, `500`, `503`, `slow-first-byte`, `stream-error`, `drop`, `truncate` (*) |
| `fault-times` | fault only the first N attempts (counted per key or `session` and fault spec) |
| `fault-after` | tokens sent before a mid-stream fault (0: before any content) |
| `retry-after-ms` | what a 429 asks the client to wait |
| `slow-first-byte-ms` | how long the `slow-first-byte` fault holds back the status line |
| `session` | counts `fault-times` per session instead of per API key |

(*) plus each vendor's own: Anthropic's `529` (HTTP 529 `overloaded_error`) and `overloaded` (an
in-stream `overloaded_error` event). Mid-stream faults are `stream-error`, `overloaded`, `drop`
and `truncate`.

This package imports nothing heavy until `Emulator` or `serve_forever` is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from ._config import EmulatorConfig
    from ._server import Emulator
    from ._server import serve_forever

__all__ = ('Emulator', 'EmulatorConfig', 'serve_forever')

_LAZY = {'Emulator': '_server', 'serve_forever': '_server', 'EmulatorConfig': '_config'}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(import_module(f'{__name__}.{module}'), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
