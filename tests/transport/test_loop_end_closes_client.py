"""A user who never closes anything still leaves no sockets behind when their event loop ends.

`asyncio.run` / `trio.run` finalize live async generators at shutdown; the transport parks one per
shared client so the client's pooled connections are closed then. Checked in a subprocess with
warnings as errors, so an "unclosed socket" ResourceWarning fails the run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, sys, threading, time, warnings
    warnings.simplefilter('error')
    import anyio
    from modelkit.emulator import Emulator
    from modelkit.messages import ModelRequest, UserPromptPart
    from modelkit.models import ModelRequestParameters
    from modelkit.models.openai import OpenAIModel
    from modelkit.providers.openai import OpenAIProvider

    found = []

    def serve():
        async def run():
            async with Emulator() as emu:
                found.append((emu.base_url('openai'), emu.api_key))
                await anyio.sleep(60)
        anyio.run(run)

    threading.Thread(target=serve, daemon=True).start()
    while not found:
        time.sleep(0.01)
    url, key = found[0]

    async def main():
        model = OpenAIModel('gpt-4o', provider=OpenAIProvider(base_url=url, api_key=key))
        messages = [ModelRequest([UserPromptPart('hello')])]
        await model.request(messages, None, ModelRequestParameters())
        async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
            async for _ in stream:
                pass

    for _ in range(2):  # a second loop must get a fresh client, not the first loop's closed one
        anyio.run(main, backend=sys.argv[1])
    gc.collect()
    print('clean')
    """
)


def test_shared_client_is_closed_when_its_loop_ends(stack: tuple[str, str]) -> None:
    # The stack's transport reaches the child through MODELKIT_HTTP_TRANSPORT.
    result = subprocess.run(
        [sys.executable, '-W', 'error', '-c', SCRIPT, stack[0]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'clean'
    assert 'ResourceWarning' not in result.stderr, result.stderr
