"""Token and request counts, and the limits a run may set on them."""

from __future__ import annotations

from dataclasses import dataclass

from ._fieldwise import fieldwise
from .exceptions import UsageLimitExceeded

__all__ = ('Usage', 'UsageLimits')


@fieldwise
@dataclass(init=False, repr=False, eq=False)
class Usage:
    """Requests and tokens used; add two together to total them.

    `details` holds vendor-specific counts, named the same way for every vendor where the idea is
    the same: `cached_tokens` (prompt tokens served from a cache), `reasoning_tokens`,
    `cache_write_tokens`, `audio_tokens`, ...
    """

    requests: int = 0
    request_tokens: int | None = None
    response_tokens: int | None = None
    total_tokens: int | None = None
    details: dict[str, int] | None = None

    def __init__(
        self,
        requests: int = 0,
        request_tokens: int | None = None,
        response_tokens: int | None = None,
        total_tokens: int | None = None,
        details: dict[str, int] | None = None,
    ) -> None:
        self.requests = requests
        self.request_tokens = request_tokens
        self.response_tokens = response_tokens
        self.total_tokens = total_tokens
        self.details = details

    def incr(self, other: Usage, *, requests: int = 0) -> None:
        """Add `other` into this usage in place, plus `requests` extra requests."""
        self.requests += requests + other.requests
        self.request_tokens = _add(self.request_tokens, other.request_tokens)
        self.response_tokens = _add(self.response_tokens, other.response_tokens)
        self.total_tokens = _add(self.total_tokens, other.total_tokens)
        if other.details:
            details = dict(self.details or {})
            for key, value in other.details.items():
                details[key] = details.get(key, 0) + value
            self.details = details

    def __add__(self, other: Usage) -> Usage:
        """Return the sum of two usages, leaving both unchanged."""
        total = Usage(
            requests=self.requests,
            request_tokens=self.request_tokens,
            response_tokens=self.response_tokens,
            total_tokens=self.total_tokens,
            details=dict(self.details) if self.details else None,
        )
        total.incr(other)
        return total


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@fieldwise
@dataclass(init=False, repr=False, eq=False)
class UsageLimits:
    """Limits on one agent run; passing one raises `UsageLimitExceeded` before the request is sent."""

    request_limit: int | None = 50
    request_tokens_limit: int | None = None
    response_tokens_limit: int | None = None
    total_tokens_limit: int | None = None

    def __init__(
        self,
        request_limit: int | None = 50,
        request_tokens_limit: int | None = None,
        response_tokens_limit: int | None = None,
        total_tokens_limit: int | None = None,
    ) -> None:
        self.request_limit = request_limit
        self.request_tokens_limit = request_tokens_limit
        self.response_tokens_limit = response_tokens_limit
        self.total_tokens_limit = total_tokens_limit

    def has_token_limits(self) -> bool:
        """Whether any token limit is set."""
        return any(
            limit is not None
            for limit in (self.request_tokens_limit, self.response_tokens_limit, self.total_tokens_limit)
        )

    def check_before_request(self, usage: Usage) -> None:
        """Raise `UsageLimitExceeded` if one more request would pass the request limit."""
        if self.request_limit is not None and usage.requests >= self.request_limit:
            raise UsageLimitExceeded(
                f'The next request would exceed the request_limit of {self.request_limit}'
            )

    def check_tokens(self, usage: Usage) -> None:
        """Raise `UsageLimitExceeded` if `usage` has passed a token limit."""
        checks = (
            ('request_tokens_limit', self.request_tokens_limit, usage.request_tokens),
            ('response_tokens_limit', self.response_tokens_limit, usage.response_tokens),
            ('total_tokens_limit', self.total_tokens_limit, usage.total_tokens),
        )
        for name, limit, used in checks:
            if limit is not None and (used or 0) > limit:
                raise UsageLimitExceeded(f'Exceeded the {name} of {limit} ({name[:-6]}={used})')
