"""Helpers shared by the test modules: import them as `from tests.helpers.streams import ...`.

- `streams`: byte-piece streams (a body whole, per event, in random pieces, byte by byte) and
  `Pieces`, an httpx body served in those pieces;
- `cassettes`: the recorded vendor traffic: where it is, a loader for every format in it, and
  replaying a recorded response to a model (respx or an httpx transport);
- `ci`: `skip_unless_ci`, for a test whose input may be absent (skip on a clone, fail under CI).
"""
