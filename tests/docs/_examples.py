"""Finding, running and checking the Python examples of the pages in `docs/`.

An example is a ```python block. What it prints is written after it in `#>` comment lines (one per
output line, a bare `#>` for an empty line). A block that must not run starts with
`# docs: no-run - <reason>`; one needing a vendor interface not built yet is found by name and
expected to fail. Run `python -m tests.docs._examples docs/PAGE.md` to see what each block prints.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import respx

from tests.docs._fake_openai import chat_completions

DOCS_DIR = Path(__file__).resolve().parents[2] / 'docs'

NO_RUN_MARKER = re.compile(r'^#\s*docs:\s*no-run\b\s*(?:[-\u2014:]\s*)?(?P<reason>.*)$')
"""`# docs: no-run - <reason>` on the first line of a block keeps it from running (reported, never silent)."""

PENDING_VENDORS = {
    'anthropic': 'Anthropic',
    'gemini': 'Gemini',
    'google_gla': 'Gemini',
    'google_vertex': 'Gemini (Vertex AI)',
    'google-gla': 'Gemini',
    'google-vertex': 'Gemini (Vertex AI)',
    'groq': 'Groq',
    'mistral': 'Mistral',
    'cohere': 'Cohere',
}
"""Interfaces later issues add: an example using one is expected to fail (strictly) until it lands."""

_MODULES = {'google_gla': 'gemini', 'google_vertex': 'gemini'}
"""The interface module of a `PENDING_VENDORS` key, where it is not the key itself."""


def landed(key: str) -> bool:
    """Whether the interface for a `PENDING_VENDORS` key exists (its examples must then pass)."""
    return importlib.util.find_spec(f'modelkit.models.{_MODULES.get(key, key)}') is not None


ENV = {
    'OPENAI_API_KEY': 'sk-docs-example',
    'DEEPSEEK_API_KEY': 'sk-docs-deepseek',
    'OPENROUTER_API_KEY': 'sk-docs-openrouter',
    'XAI_API_KEY': 'xai-docs',
    'PERPLEXITY_API_KEY': 'pplx-docs',
    'FIREWORKS_API_KEY': 'fw-docs',
    'TOGETHER_API_KEY': 'together-docs',
    'AZURE_OPENAI_API_KEY': 'azure-docs',
    'AZURE_OPENAI_ENDPOINT': 'https://my-resource.openai.azure.com',
    'OPENAI_API_VERSION': '2024-10-21',
}
"""What a user would have exported: a key for each OpenAI-protocol service the pages use."""

_FENCE = re.compile(r'^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)(?P<attrs>[^\n`]*)$')


@dataclass(frozen=True)
class Example:
    """One ```python block of a page."""

    page: str
    line: int
    code: str

    @property
    def id(self) -> str:
        """`page.md:line`, the pytest id."""
        return f'{self.page}:{self.line}'

    @property
    def no_run_reason(self) -> str | None:
        """The reason given by a `# docs: no-run` marker ('' when the marker gives none), or None."""
        first = self.code.lstrip().splitlines()[0] if self.code.strip() else ''
        match = NO_RUN_MARKER.match(first.strip())
        return match['reason'].strip() if match else None

    @property
    def pending_vendor(self) -> str | None:
        """The vendor whose interface is not built yet that this example needs, if any."""
        for key, vendor in PENDING_VENDORS.items():
            if landed(key):
                continue
            if re.search(rf'models\.{key}\b|providers\.{key}\b|[\'"]{key}:', self.code):
                return vendor
        return None

    def expected_output(self) -> str:
        """The `#>` lines, as the text the example must print."""
        lines = []
        for line in self.code.splitlines():
            stripped = line.strip()
            if stripped.startswith('#>'):
                rest = stripped[2:]
                lines.append(rest[1:] if rest.startswith(' ') else rest)
        return '\n'.join(lines)


def blocks(text: str) -> Iterator[tuple[str, int, str]]:
    """Every fenced block of a markdown text: (language, 1-based line of the fence, dedented body)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent = match['indent']
        j = i + 1
        while j < len(lines) and lines[j].strip() != '```':
            j += 1
        if j == len(lines):
            raise ValueError(f'line {i + 1}: code block is never closed')
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : j]]
        yield match['lang'], i + 1, textwrap.dedent('\n'.join(body))
        i = j + 1


def page_examples(path: Path) -> list[Example]:
    """The Python examples of one page."""
    return [
        Example(path.name, line, code)
        for lang, line, code in blocks(path.read_text(encoding='utf-8'))
        if lang in ('python', 'py')
    ]


def pages() -> list[Path]:
    """Every page in docs/."""
    return sorted(DOCS_DIR.glob('*.md'))


_DATETIME = re.compile(r'datetime\.datetime\([^()]*(?:\([^()]*\))?[^()]*\)')
_GENERATED_CALL_ID = re.compile(r'\bcall_[0-9a-f]{24}\b')


def normalise(text: str) -> str:
    """Replace what legitimately varies between runs (datetimes, generated call ids); trim line ends."""
    text = _DATETIME.sub('datetime.datetime(...)', text)
    text = _GENERATED_CALL_ID.sub('call_...', text)
    return '\n'.join(line.rstrip() for line in text.strip('\n').splitlines())


@contextlib.contextmanager
def fake_services() -> Iterator[respx.MockRouter]:
    """Answer every chat-completions request from the docs' script; let 127.0.0.1 (the emulator) through.

    `localhost` is answered by the fake too, as a local Ollama would. Anything else is refused by
    respx (`assert_all_mocked`), so no request leaves the machine.
    """
    with respx.mock(assert_all_called=False) as router:
        router.route(url__regex=r'^https?://(127\.0\.0\.1|\[::1\])[:/]').pass_through()
        router.post(url__regex=r'/chat/completions(\?.*)?$').mock(side_effect=chat_completions)
        yield router


def run(example: Example) -> str:
    """Execute an example in a fresh namespace and return what it printed.

    The caller sets the environment and working directory; this only captures stdout and keeps the
    model-request switch the example may flip from leaking into the next one.
    """
    import modelkit.models

    allow = modelkit.models.ALLOW_MODEL_REQUESTS
    stdout = io.StringIO()
    try:
        with fake_services(), contextlib.redirect_stdout(stdout):
            exec(compile(example.code, example.id, 'exec'), {'__name__': '__main__'})
    finally:
        modelkit.models.ALLOW_MODEL_REQUESTS = allow
    return stdout.getvalue()


def main(argv: list[str]) -> int:
    """Print what each example of the given pages prints (for writing the `#>` lines)."""
    import tempfile

    for name in argv:
        for example in page_examples(Path(name)):
            os.environ.update(ENV)
            print(f'--- {example.id}')
            if example.no_run_reason is not None:
                print(f'(no-run: {example.no_run_reason})')
                continue
            with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
                try:
                    out = run(example)
                except BaseException as exc:  # show it and go on to the next example
                    print(f'!!! {type(exc).__name__}: {exc}')
                    continue
            same = normalise(out) == normalise(example.expected_output())
            print(out, end='' if out.endswith('\n') or not out else '\n')
            print('(matches)' if same else '(DIFFERS from the #> lines)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
