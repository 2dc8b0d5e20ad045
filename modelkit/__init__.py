"""modelkit: every major LLM vendor over its own wire protocol, with no vendor SDK.

`import modelkit` is cheap: the agent and every vendor module load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = '0.1.0'

if TYPE_CHECKING:
    from .agent import Agent, RunContext
    from .exceptions import ModelRetry, UnexpectedModelBehavior, UserError
    from .tools import Tool
    from .usage import Usage, UsageLimits

__all__ = (
    'Agent',
    'ModelRetry',
    'RunContext',
    'Tool',
    'UnexpectedModelBehavior',
    'Usage',
    'UsageLimits',
    'UserError',
    '__version__',
)

_LAZY = {
    'Agent': 'agent',
    'RunContext': 'tools',
    'Tool': 'tools',
    'ModelRetry': 'exceptions',
    'UnexpectedModelBehavior': 'exceptions',
    'UserError': 'exceptions',
    'Usage': 'usage',
    'UsageLimits': 'usage',
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    from importlib import import_module

    value = getattr(import_module(f'{__name__}.{module}'), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
