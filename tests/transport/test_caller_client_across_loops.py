"""A client the caller passes in keeps working across event loops (one `run_sync` per loop).

Its pool still holds connections from the loop that ended; the transport retries once on a fresh
connection instead of surfacing asyncio's bare "Event loop is closed". Run in a subprocess because
the dead loop's sockets can only be reclaimed by the garbage collector.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import httpx
    from modelkit import Agent
    from modelkit.emulator import Emulator
    from modelkit.models.openai import OpenAIModel
    from modelkit.providers.openai import OpenAIProvider

    with Emulator() as emu:
        client = httpx.AsyncClient(timeout=30)
        provider = OpenAIProvider(base_url=emu.base_url('openai'), api_key=emu.api_key, http_client=client)
        agent = Agent(OpenAIModel('gpt-4o', provider=provider))
        answers = [agent.run_sync('hello').data for _ in range(3)]
        print(len(answers), len(set(answers)), len(emu.requests))
    """
)


def test_a_caller_client_serves_several_run_sync_calls() -> None:
    result = subprocess.run(
        [sys.executable, '-c', SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    # three answers, all the same deterministic text, and exactly three requests reached the server
    assert result.stdout.split() == ['3', '1', '3']
