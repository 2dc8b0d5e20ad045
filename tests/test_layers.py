"""The layer rules, checked on the source: HTTP lives in one room, parsers and providers stay pure."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / 'modelkit'


def _runtime_imports(path: Path) -> set[str]:
    """Top-level module names imported at runtime (imports under `if TYPE_CHECKING:` excluded)."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
            for child in ast.walk(node):
                type_only.add(id(child))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ('.' * node.level) + (node.module or '')
            names.add(base)
            sep = '' if base.endswith('.') else '.'
            names.update(f'{base}{sep}{alias.name}' for alias in node.names)
    return names


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob('*.py'))


TRANSPORT_ROOM = {'_transport.py', '_clients.py', '_aiohttp.py'}
"""The transport, its per-loop shared client, and the `fast` extra's aiohttp transport under httpx."""


def test_only_the_transport_imports_httpx() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in _modules()
        if not (path.parent == PACKAGE and path.name in TRANSPORT_ROOM)
        and path.parent.name != 'emulator'  # the emulator is a server and never imports httpx anyway
        and any(name == 'httpx' or name.startswith('httpx.') for name in _runtime_imports(path))
    ]
    assert offenders == [], f'httpx imported outside the transport room {sorted(TRANSPORT_ROOM)}: {offenders}'


def test_parsers_know_nothing_of_http_or_messages() -> None:
    for path in (PACKAGE / 'parsers').rglob('*.py'):
        imports = _runtime_imports(path)
        bad = {
            name
            for name in imports
            if name.startswith(('httpx', 'anyio', '.._transport', '..models', '..providers', '..messages'))
        }
        assert not bad, f'{path.name} imports {bad}'


def test_providers_know_nothing_of_message_formats() -> None:
    for path in (PACKAGE / 'providers').rglob('*.py'):
        imports = _runtime_imports(path)
        bad = {name for name in imports if name.startswith(('..messages', '..models', '..wire', '..parsers'))}
        assert not bad, f'{path.name} imports {bad}'


def _modules_after(statement: str) -> set[str]:
    code = f'import sys; {statement}; print("\\n".join(sorted(sys.modules)))'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, timeout=60)
    return set(out.stdout.split())


def test_import_modelkit_loads_no_vendor_module_and_no_http_stack() -> None:
    loaded = _modules_after('import modelkit')
    heavy = {'httpx', 'pydantic', 'botocore', 'google', 'openai', 'anthropic', 'boto3', 'anyio'}
    assert not (heavy & {name.split('.')[0] for name in loaded})
    assert not any(name.startswith('modelkit.models') for name in loaded)


@pytest.mark.parametrize('module', ['modelkit.models.openai', 'modelkit.agent'])
def test_openai_path_loads_no_other_vendor(module: str) -> None:
    loaded = {name.split('.')[0] for name in _modules_after(f'import {module}')}
    assert not ({'botocore', 'boto3', 'google', 'openai', 'anthropic'} & loaded)


# Each vendor's interface with its provider(s), as the cold-import benchmark rows import them, and
# the interface modules it may load besides its own (Groq and Mistral build on OpenAI's).
_VENDOR_IMPORTS = {
    'openai': ('modelkit.models.openai, modelkit.providers.openai', {'openai'}),
    'anthropic': ('modelkit.models.anthropic, modelkit.providers.anthropic', {'anthropic'}),
    'cohere': ('modelkit.models.cohere, modelkit.providers.cohere', {'cohere'}),
    'bedrock': ('modelkit.models.bedrock, modelkit.providers.bedrock', {'bedrock'}),
    'groq': ('modelkit.models.groq, modelkit.providers.groq', {'groq', 'openai'}),
    'mistral': ('modelkit.models.mistral, modelkit.providers.mistral', {'mistral', 'openai'}),
    'gemini': (
        'modelkit.models.gemini, modelkit.providers.google_gla, modelkit.providers.google_vertex',
        {'gemini'},
    ),
}


@pytest.mark.parametrize('vendor', sorted(_VENDOR_IMPORTS))
def test_vendor_import_loads_no_sdk_no_credentials_and_no_schemas(vendor: str) -> None:
    modules, interfaces = _VENDOR_IMPORTS[vendor]
    loaded = _modules_after(f'import {modules}')
    sdks = {'botocore', 'boto3', 'openai', 'anthropic', 'cohere', 'groq', 'mistralai', 'google'}
    assert not (sdks & {name.split('.')[0] for name in loaded})
    # Credentials (the AWS chain, Google ADC) and the vendor's pydantic wire schemas load at the
    # first request, never at import: serverless cold starts pay only for what they use.
    assert 'google.auth' not in loaded
    assert 'pydantic.main' not in loaded
    assert not [name for name in loaded if name.startswith('modelkit.wire.')]
    assert 'modelkit.tools' not in loaded
    others = {name.split('.')[2] for name in loaded if name.startswith('modelkit.models.')} - interfaces
    assert not {name for name in others if not name.startswith('_')}
    # The OpenAI dialect profiles are for the OpenAI interface; the others never build them.
    assert ('modelkit.profiles' in loaded) is ('openai' in interfaces)
