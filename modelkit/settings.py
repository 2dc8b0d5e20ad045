"""Settings that shape one request, shared by every vendor (each maps what it supports)."""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ('ModelSettings', 'merge_model_settings')


class ModelSettings(TypedDict, total=False):
    """Per-request settings; a vendor ignores the ones its API lacks.

    Vendor-specific settings live in subclasses (`OpenAIModelSettings`, ...) with a vendor prefix.
    """

    max_tokens: int
    """The most tokens the model may generate."""
    temperature: float
    """Sampling randomness: 0 is near-deterministic."""
    top_p: float
    """Nucleus sampling: only tokens in the top `top_p` probability mass are considered."""
    timeout: float
    """Seconds to wait for connect, each read (streams included) and write, and a deadline on the whole
    wait for the response's status line and headers (a server trickling them cannot hold a request
    longer); per attempt, not a total over retries."""
    seed: int
    """Best-effort deterministic sampling, where the vendor supports it."""
    stop_sequences: list[str]
    """Text that ends generation when produced."""
    parallel_tool_calls: bool
    """Whether the model may call several tools in one response."""
    presence_penalty: float
    """Penalise tokens that have appeared at all, encouraging new topics."""
    frequency_penalty: float
    """Penalise tokens by how often they have appeared."""
    logit_bias: dict[str, int]
    """Bias for given token ids."""
    extra_headers: dict[str, str]
    """Headers added to the request (they win over the defaults, never over auth)."""
    extra_body: dict[str, Any]
    """Top-level JSON fields merged into the request body, for vendor options we do not model."""


def merge_model_settings(base: ModelSettings | None, overrides: ModelSettings | None) -> ModelSettings | None:
    """Merge two settings dicts, `overrides` winning key by key."""
    if base and overrides:
        return base | overrides
    return base or overrides
