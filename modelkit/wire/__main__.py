"""`python -m modelkit.wire [SCHEMAS_DIR]`: regenerate the JSON Schemas from the wire models.

The default folder is `schemas/` beside the `modelkit` package (the repository's checked-in copy).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import write_schemas


def main(argv: list[str] | None = None) -> int:
    """Write the schemas and print one line per file changed."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / 'schemas'
    changed = write_schemas(root)
    for line in changed:
        print(line)
    if not changed:
        print(f'{root}: up to date')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
