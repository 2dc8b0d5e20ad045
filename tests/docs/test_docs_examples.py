"""Every Python example in `docs/` runs, and prints exactly what its page shows.

Each ```python block is executed on its own: a fresh namespace, a temporary working directory,
the environment a user would have (an API key for each OpenAI-protocol service), stdout captured,
and a time limit. Requests to a vendor are answered by the fake OpenAI service in
`_fake_openai.py` (respx, canned answers keyed by the prompt); examples that start the built-in
emulator reach it over loopback. What the block prints must equal its `#>` lines, after replacing
datetimes and generated call ids, which differ from run to run.

A block marked `# docs: no-run - <reason>` is reported as skipped with its reason; a block
needing a vendor interface that is not built yet is expected to fail, strictly, so it is flipped
when the vendor lands. The checks at the end keep the pages' links, command lines and the models
page's status table honest.

ruff (0.16 and later) formats the Python blocks of Markdown files too, and would rewrite every
`#>` line as `# >`; so each page starts with `<!-- fmt: off -->` (invisible once rendered), and
`test_examples_pass_ruff` formats and lints the examples itself, with their `#>` lines kept.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs._examples import (
    DOCS_DIR,
    ENV,
    Example,
    blocks,
    normalise,
    page_examples,
    pages,
    run,
)
from tests.helpers.ci import require_ruff

EXAMPLE_TIMEOUT_S = 30
"""Per example: the slowest waits for an emulator fault's retries, well under a second; a hang fails here."""

PAGES = (
    'index.md',
    'models.md',
    'agents.md',
    'streaming.md',
    'structured-output.md',
    'testing.md',
    'fallback.md',
    'errors.md',
    'cli.md',
)


def _params() -> list[object]:
    params: list[object] = []
    for page in pages():
        for example in page_examples(page):
            marks: list[pytest.MarkDecorator] = [pytest.mark.timeout(EXAMPLE_TIMEOUT_S)]
            reason = example.no_run_reason
            vendor = example.pending_vendor
            if reason is not None:
                marks.append(pytest.mark.skip(reason=f'docs: no-run - {reason or "NO REASON GIVEN"}'))
            elif vendor is not None:
                marks.append(
                    pytest.mark.xfail(reason=f'needs the {vendor} interface (pending its issue)', strict=True)
                )
            params.append(pytest.param(example, id=example.id, marks=marks))
    return params


@pytest.mark.parametrize('example', _params())
def test_example(example: Example, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    if re.search(r'^\s*(from|import) openai\b', example.code, re.MULTILINE) and (
        importlib.util.find_spec('openai') is None
    ):
        pytest.skip('needs the openai SDK (tests/requirements-fidelity.txt), which is not installed')
    printed = run(example)
    assert normalise(printed) == normalise(example.expected_output())


def test_every_page_is_there_and_has_examples() -> None:
    found = {page.name for page in pages()}
    assert found >= set(PAGES), f'missing pages: {sorted(set(PAGES) - found)}'
    for name in PAGES:
        if name != 'cli.md':  # the command's page shows shell commands
            assert page_examples(DOCS_DIR / name), f'{name} has no Python example'


def test_no_run_blocks_are_rare_and_say_why() -> None:
    no_run = [e for page in pages() for e in page_examples(page) if e.no_run_reason is not None]
    assert all(e.no_run_reason for e in no_run), [e.id for e in no_run if not e.no_run_reason]
    total = sum(len(page_examples(page)) for page in pages())
    assert len(no_run) * 10 <= total, f'{len(no_run)} of {total} examples do not run: keep them rare'


def test_examples_pass_ruff(tmp_path: Path) -> None:
    require_ruff()
    for page in pages():
        for example in page_examples(page):
            name = re.sub(r'\W', '_', example.id)
            # `# >` is how ruff would write an output line; as such it is left alone.
            code = re.sub(r'(?m)^(\s*)#>', r'\1# >', example.code)
            (tmp_path / f'{name}.py').write_text(code + '\n', encoding='utf-8')
    config = str(DOCS_DIR.parent / 'pyproject.toml')
    for command in (
        [sys.executable, '-m', 'ruff', 'format', '--diff', '--config', config, str(tmp_path)],
        # Long lines are output (`#>`) lines: the formatter already keeps the code within limits.
        [
            sys.executable,
            '-m',
            'ruff',
            'check',
            '--ignore',
            'E501',
            '--output-format',
            'concise',
            '--config',
            config,
            str(tmp_path),
        ],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


# -- links ------------------------------------------------------------------------------------

_LINK = re.compile(r'\]\((?P<target>[^)\s]+)\)')


def _anchors(text: str) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to dashes."""
    anchors = set()
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith('```'):
            in_code = not in_code
        elif not in_code and (match := re.match(r'#{1,6}\s+(.*)', line)):
            slug = re.sub(r'[^\w\- ]', '', match[1].strip().lower()).replace(' ', '-')
            anchors.add(slug)
    return anchors


def test_links_between_pages_resolve() -> None:
    broken = []
    for page in pages():
        text = page.read_text(encoding='utf-8')
        prose = re.sub(r'```.*?```', '', text, flags=re.DOTALL)
        for match in _LINK.finditer(prose):
            target = match['target']
            if re.match(r'[a-z]+:', target):
                continue  # an external URL
            name, _, anchor = target.partition('#')
            path = DOCS_DIR / name if name else page
            if not path.is_file():
                broken.append(f'{page.name}: {target} (no such page)')
            elif anchor and anchor not in _anchors(path.read_text(encoding='utf-8')):
                broken.append(f'{page.name}: {target} (no such heading)')
    assert not broken


def test_index_lists_every_page() -> None:
    index = (DOCS_DIR / 'index.md').read_text(encoding='utf-8')
    linked = {m['target'].partition('#')[0] for m in _LINK.finditer(index)}
    assert set(PAGES) - {'index.md'} <= linked


# -- command lines ----------------------------------------------------------------------------


def _command_lines() -> list[tuple[str, str]]:
    lines = []
    for page in pages():
        for lang, line_no, code in blocks(page.read_text(encoding='utf-8')):
            if lang not in ('bash', 'console', 'sh', 'shell'):
                continue
            for offset, line in enumerate(code.splitlines(), start=1):
                # Each command of a pipeline (`git diff | modelkit chat ...`) on its own.
                for command in line.strip().removeprefix('$ ').split(' | '):
                    if re.match(r'([A-Z_]+=\S+\s+)*modelkit\s', command.strip()):
                        lines.append((f'{page.name}:{line_no + offset}', command.strip()))
    return lines


def _argv(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    while words and re.match(r'[A-Z_]+=', words[0]):
        words.pop(0)
    argv = []
    for word in words[1:]:
        if word in ('|', '&', '&&', ';', '>', '2>', '||'):
            break
        argv.append(word)
    return argv


@pytest.mark.parametrize(('where', 'line'), _command_lines())
def test_command_line_shown_in_the_docs_parses(where: str, line: str) -> None:
    from modelkit.cli import build_parser

    status: object = 0
    try:
        build_parser().parse_args(_argv(line))
    except SystemExit as exc:  # argparse's way of refusing (or of finishing --help)
        status = exc.code
    assert status == 0, f'{where}: `{line}` is not a valid modelkit command line'


# -- the models page's table of what runs today --------------------------------------------------


def _status_table() -> dict[str, str]:
    """Example id -> the 'today' cell of the table in models.md."""
    text = (DOCS_DIR / 'models.md').read_text(encoding='utf-8')
    section = text.split('## What runs today', 1)[1]
    statuses: dict[str, str] = {}
    for row in re.findall(r'^\|(.+)\|\s*$', section, re.MULTILINE):
        cells = [cell.strip() for cell in row.split('|')]
        if len(cells) != 3 or set(cells[2]) <= {'-'} or cells[2] == 'today':
            continue
        for example_id in re.findall(r'`([\w.#]+\.py(?:#\d+)?)`', cells[1]):
            assert example_id not in statuses, f'{example_id} is listed twice'
            statuses[example_id] = cells[2]
    return statuses


def test_models_page_table_matches_the_contract_test() -> None:
    from tests.docs.test_models_page import NOT_APPLICABLE, PAGE, _pending_reason, extract_examples

    if not PAGE.is_file():
        pytest.skip(f'the contract page {PAGE} is not beside the repository')
    table = _status_table()
    wrong = []
    examples = extract_examples(PAGE.read_text(encoding='utf-8'))
    for example in examples:
        status = table.get(example.id)
        if status is None:
            wrong.append(f'{example.id}: not in the table')
        elif (example.title, example.occurrence) in NOT_APPLICABLE:
            if not status.startswith('not applicable'):
                wrong.append(f'{example.id}: the contract test skips it, the table says {status!r}')
        elif (reason := _pending_reason(example)) is not None:
            vendor = re.search(r'the (\w+)', reason)
            if not status.startswith('pending') or (vendor and vendor[1].lower() not in status.lower()):
                wrong.append(f'{example.id}: expected to fail ({reason}), the table says {status!r}')
        elif status != 'run':
            wrong.append(f'{example.id}: runs, the table says {status!r}')
    extra = set(table) - {e.id for e in examples}
    assert not wrong, wrong
    assert not extra, f'the table lists examples the page does not have: {sorted(extra)}'


# -- the machinery itself ---------------------------------------------------------------------

SAMPLE_PAGE = """# Sample

```python
print('a')
#> a
for word in ('b', ''):
    print(word)
    #> b
    #>
```

```bash
modelkit models
```

1. A listed example:

    ```py
    # docs: no-run - needs a GPU
    print('never')
    ```

```python
# docs: no-run
from modelkit.models.anthropic import AnthropicModel
```
"""


def test_extraction_reads_blocks_output_and_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.docs import _examples

    monkeypatch.setattr(_examples, 'landed', lambda key: False)  # as if no vendor had landed yet
    page = tmp_path / 'sample.md'
    page.write_text(SAMPLE_PAGE, encoding='utf-8')
    examples = page_examples(page)
    assert [e.id for e in examples] == ['sample.md:3', 'sample.md:18', 'sample.md:23']
    first, indented, bare = examples
    assert first.expected_output() == 'a\nb\n'
    assert (first.no_run_reason, first.pending_vendor) == (None, None)
    assert indented.code.startswith('# docs: no-run')
    assert indented.no_run_reason == 'needs a GPU'
    assert bare.no_run_reason == ''  # a marker without a reason, which the page check refuses
    assert bare.pending_vendor == 'Anthropic'
    assert [lang for lang, _, _ in blocks(SAMPLE_PAGE)] == ['python', 'bash', 'py', 'python']


def test_an_unclosed_block_is_an_error() -> None:
    with pytest.raises(ValueError, match='line 1: code block is never closed'):
        list(blocks('```python\nprint(1)\n'))


def test_normalise_replaces_only_what_varies() -> None:
    printed = (
        'UserPromptPart(timestamp=datetime.datetime(2025, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), '
        "tool_call_id='call_0123456789abcdef01234567')   \n"
    )
    shown = "UserPromptPart(timestamp=datetime.datetime(...), tool_call_id='call_...')"
    assert normalise(printed) == normalise(shown)
    assert normalise('Paris') != normalise('London')
    assert normalise("tool_call_id='call_63b80e6e9c7e'") != normalise("tool_call_id='call_b7d15c2e1444'")


def test_examples_run_against_the_fake_and_nothing_else() -> None:
    import httpx
    import respx

    from modelkit import Agent
    from modelkit.exceptions import ModelHTTPError
    from modelkit.models.openai import OpenAIModel
    from tests.docs._examples import fake_services

    agent = Agent(OpenAIModel('gpt-4o', api_key='sk-test'))
    with fake_services():
        assert agent.run_sync('What is the capital of France?').data == 'The capital of France is Paris.'
        with pytest.raises(ModelHTTPError) as info:
            agent.run_sync('A prompt no page uses')
        assert info.value.status_code == 400
        assert 'no answer for the prompt' in str(info.value)
        with pytest.raises(respx.models.AllMockedAssertionError):
            httpx.get('https://example.com/')
