"""modelkit's benchmarks: `python -m benchmarks` (see benchmarks/README.md).

Not part of the installed package; the peers it compares against are listed in
benchmarks/requirements.txt and are never modelkit dependencies.
"""
