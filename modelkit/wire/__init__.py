"""Pydantic models of each vendor's wire format, and their export to the JSON Schemas in `schemas/`.

One module per vendor (`modelkit.wire.openai`, `.anthropic`, `.gemini` (GLA and Vertex alike),
`.cohere`, `.bedrock`; `.groq` and `.mistral` state only what they add to OpenAI's models), each
listing the models it exports in `SCHEMA_MODELS` (the docstring of each module's `SCHEMA_MODELS`
names its folder). What they share is the kit's: `_base` (the two extra-field policies and open
unions) and `_common` (the request parts several vendors took from OpenAI's format as they are).
Nothing here is imported by `import modelkit`; interface modules import their wire module when
they first validate a payload.

`python -m modelkit.wire` rewrites `schemas/<vendor>/<Model>.json`; `tests/test_schemas.py` fails
when the checked-in files drift from the models.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

__all__ = ('WIRE_MODULES', 'render_schemas', 'write_schemas')

WIRE_MODULES: dict[str, str] = {
    'openai': 'modelkit.wire.openai',
    'anthropic': 'modelkit.wire.anthropic',
    'gemini': 'modelkit.wire.gemini',
    'cohere': 'modelkit.wire.cohere',
    'bedrock': 'modelkit.wire.bedrock',
    'groq': 'modelkit.wire.groq',
    'mistral': 'modelkit.wire.mistral',
}
"""Vendor folder under `schemas/` -> the wire module whose `SCHEMA_MODELS` it holds."""


def render_schemas() -> dict[str, str]:
    """Every schema file's text, keyed by its path relative to `schemas/` (e.g. `openai/ChatCompletion.json`).

    The text is stable: keys sorted, two-space indent, a trailing newline.
    """
    files: dict[str, str] = {}
    for vendor, module_name in WIRE_MODULES.items():
        module = import_module(module_name)
        for model in module.SCHEMA_MODELS:
            schema = model.model_json_schema()
            files[f'{vendor}/{model.__name__}.json'] = (
                json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + '\n'
            )
    return dict(sorted(files.items()))


def write_schemas(root: Path) -> list[str]:
    """Write every schema under `root` and delete stale ones in the vendor folders; return what changed."""
    files = render_schemas()
    changed: list[str] = []
    for vendor in WIRE_MODULES:
        folder = root / vendor
        folder.mkdir(parents=True, exist_ok=True)
        for stale in sorted(folder.glob('*.json')):
            if f'{vendor}/{stale.name}' not in files:
                stale.unlink()
                changed.append(f'deleted {vendor}/{stale.name}')
    for relative, text in files.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding='utf-8') != text:
            path.write_text(text, encoding='utf-8', newline='\n')
            changed.append(f'wrote {relative}')
    return changed
