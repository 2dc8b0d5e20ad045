"""A client the caller passes in keeps working across event loops (one `run_sync` per loop).

Its pool still holds connections from the loop that ended; the transport retries once on a fresh
connection instead of surfacing asyncio's bare "Event loop is closed"; on the aiohttp transport,
whose session cannot leave its loop, each loop gets a session of its own. Run in a subprocess
because the dead loop's sockets can only be reclaimed by the garbage collector.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.transport.stacks import require_fast

SCRIPT = textwrap.dedent(
    """
    import sys

    import httpx
    from modelkit import Agent
    from modelkit.emulator import Emulator
    from modelkit.models.openai import OpenAIModel
    from modelkit.providers.openai import OpenAIProvider

    with Emulator() as emu:
        if sys.argv[1] == 'aiohttp':
            from modelkit._aiohttp import AiohttpClient as Client
        else:
            Client = httpx.AsyncClient
        client = Client(timeout=30)
        provider = OpenAIProvider(base_url=emu.base_url('openai'), api_key=emu.api_key, http_client=client)
        agent = Agent(OpenAIModel('gpt-4o', provider=provider))
        answers = [agent.run_sync('hello').data for _ in range(3)]
        print(len(answers), len(set(answers)), len(emu.requests))
    """
)


@pytest.mark.parametrize('transport', ['httpx', 'aiohttp'])
def test_a_caller_client_serves_several_run_sync_calls(transport: str) -> None:
    if transport == 'aiohttp':
        require_fast()
    result = subprocess.run(
        [sys.executable, '-c', SCRIPT, transport], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    # three answers, all the same deterministic text, and exactly three requests reached the server
    assert result.stdout.split() == ['3', '1', '3']
