"""Every Python example on PydanticAI's Models page runs with `pydantic_ai` spelled `modelkit`.

The page (kept in ../shared/seeds/models-page.md) is our API contract. Each example is extracted,
renamed and executed with the vendors' environment variables set and every base URL answered by
a mock of its vendor's protocol (respx, so no request leaves the process; one module per vendor in
tests/docs/page_mocks/). Examples that only construct
models and providers must do so without error; the ones that call `run_sync` must complete and
print what the page shows. Examples for vendors whose interface is not built yet are marked
expected-to-fail (strict, so they must be flipped when the vendor lands), never skipped.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest
import respx

from modelkit.exceptions import UserError
from tests.conftest import REPO_ROOT
from tests.docs.page_mocks import install_all
from tests.helpers.ci import skip_unless_ci

PAGE = REPO_ROOT.parent / 'shared' / 'seeds' / 'models-page.md'

# Interfaces that later issues add: an example naming one is expected to fail until its module
# exists. Found with find_spec, so an example flips to "must pass" the moment its vendor lands.
PENDING_VENDORS = {
    'anthropic': 'anthropic',
    'gemini': 'gemini',
    'google': 'gemini',
    'groq': 'groq',
    'mistral': 'mistral',
    'cohere': 'cohere',
    'bedrock': 'bedrock',
}
# Providers that land apart from their interface (Vertex AI's auth, beside GeminiModel): an example
# naming one is expected to fail until `modelkit.providers.<module>` exists, then must pass.
PENDING_PROVIDERS = {
    'google-vertex': 'google_vertex',
    'google_vertex': 'google_vertex',
}


NOT_APPLICABLE = {
    # The page's own alternative for Python < 3.10 users; modelkit requires 3.11, where the
    # `except*` version of the same example (tested above it) applies.
    ('fallback_model_failure.py', 2): 'Python < 3.11 variant (exceptiongroup backport); modelkit needs 3.11+',
}

ENV = {
    'OPENAI_API_KEY': 'sk-test-openai',
    'ANTHROPIC_API_KEY': 'test-anthropic',
    'GEMINI_API_KEY': 'test-gemini',
    'GROQ_API_KEY': 'test-groq',
    'MISTRAL_API_KEY': 'test-mistral',
    'CO_API_KEY': 'test-cohere',
    'AWS_ACCESS_KEY_ID': 'AKIDEXAMPLE',
    'AWS_SECRET_ACCESS_KEY': 'test-secret',
    'AWS_REGION': 'us-east-1',
}


@dataclass
class Example:
    title: str
    occurrence: int
    code: str
    line: int

    @property
    def id(self) -> str:
        return f'{self.title}#{self.occurrence}' if self.occurrence > 1 else self.title


_FENCE = re.compile(r'^(?P<indent>[ \t]*)```(?:python|py)\b(?P<attrs>[^\n]*)$')


def extract_examples(text: str) -> list[Example]:
    """The Python code blocks of a markdown page, dedented, with their `title` attribute."""
    examples: list[Example] = []
    seen: dict[str, int] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent = match['indent']
        title_match = re.search(r'title="([^"]+)"', match['attrs'])
        title = title_match.group(1) if title_match else f'line-{i + 1}'
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != '```':
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        seen[title] = seen.get(title, 0) + 1
        examples.append(Example(title, seen[title], textwrap.dedent('\n'.join(body)), i + 1))
        i = j + 1
    return examples


def expected_output(code: str) -> str:
    """What the page says the example prints: `#> ...` lines and docstring blocks after a print."""
    out: list[str] = []
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith('#>'):
            out.append(stripped[2:].strip())
        elif stripped == '"""' and i > 0 and lines[i - 1].strip().startswith('print('):
            j = i + 1
            while lines[j].strip() != '"""':
                out.append(lines[j])
                j += 1
            i = j
        i += 1
    return '\n'.join(out)


def _normalise(text: str) -> str:
    text = re.sub(r'datetime\.datetime\([^()]*(\([^()]*\))?[^()]*\)', 'datetime.datetime(...)', text)
    text = re.sub(r'\s+', '', text)
    return re.sub(r',([\])])', r'\1', text)


def _pending_reason(example: Example) -> str | None:
    for vendor, module in PENDING_VENDORS.items():
        if find_spec(f'modelkit.models.{module}') is not None:
            continue
        if re.search(rf'models\.{vendor}\b|providers\.{vendor}|[\'"]{vendor}[:-]', example.code):
            return f'the {module} interface (modelkit.models.{module}), not built yet'
    for name, module in PENDING_PROVIDERS.items():
        if find_spec(f'modelkit.providers.{module}') is None and name in example.code:
            return f'the {module} provider (modelkit.providers.{module}), not built yet'
    return None


def _params() -> list[object]:
    if not PAGE.is_file():
        return [pytest.param(None, id='page-missing')]
    params: list[object] = []
    for example in extract_examples(PAGE.read_text(encoding='utf-8')):
        marks: list[pytest.MarkDecorator] = []
        if (reason := NOT_APPLICABLE.get((example.title, example.occurrence))) is not None:
            marks.append(pytest.mark.skip(reason=reason))
        elif (reason := _pending_reason(example)) is not None:
            # Only "this interface does not exist yet" counts as the expected failure.
            marks.append(
                pytest.mark.xfail(reason=f'needs {reason}', strict=True, raises=(ImportError, UserError))
            )
        params.append(pytest.param(example, id=example.id, marks=marks))
    return params


@pytest.mark.parametrize('example', _params())
def test_models_page_example(
    example: Example | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if example is None:
        # Like the wire fixtures: absent on a user's clone, required in CI.
        skip_unless_ci(f'the API contract page is missing: {PAGE} (clone ../shared beside the repo)')
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    code = example.code.replace('pydantic_ai', 'modelkit')
    stdout = io.StringIO()
    with respx.mock(assert_all_called=False) as router, contextlib.redirect_stdout(stdout):
        install_all(router)
        exec(compile(code, example.title, 'exec'), {'__name__': '__main__'})
    want = expected_output(example.code)
    if want:
        assert _normalise(stdout.getvalue()) == _normalise(want), stdout.getvalue()


def test_extraction_finds_every_block() -> None:
    if not PAGE.is_file():
        pytest.skip(f'{PAGE} not found')
    text = PAGE.read_text(encoding='utf-8')
    blocks = [line for line in text.splitlines() if re.match(r'^\s*```(python|py)\b', line)]
    assert len(extract_examples(text)) == len(blocks) > 40
