"""The emulator's settings: one frozen dataclass, cheap to import."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ('DEFAULT_AWS_ACCESS_KEY_ID', 'DEFAULT_AWS_SECRET_ACCESS_KEY', 'DEFAULT_MODELS', 'EmulatorConfig')

DEFAULT_MODELS = ('gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'o3-mini')
"""Model ids listed by `GET /v1/models`; any model name is accepted on requests."""

DEFAULT_AWS_ACCESS_KEY_ID = 'AKIAEMULATOR00000000'
"""The access key id Bedrock requests must be signed with (`--aws-access-key-id`)."""
DEFAULT_AWS_SECRET_ACCESS_KEY = 'emulator-secret-access-key'
"""The secret key the emulator checks SigV4 signatures with (`--aws-secret-access-key`)."""


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator answers by default; a request can override most of it by header or model name."""

    api_key: str | None = 'emulator-key'
    """The only key accepted; `None` accepts any non-empty key (a missing key is still refused)."""
    tokens: int = 20
    """Tokens in a text answer (`x-emulator-tokens` / `+tokens=N` override it)."""
    tokens_per_second: float = 0.0
    """Pace of the generated tokens; 0 sends them as fast as the socket takes them."""
    ttft: float = 0.0
    """Seconds before the first token (time to first token), after the headers of a stream."""
    seed: int = 0
    """Mixed with the prompt to choose the words; the request's own `seed` field replaces it."""
    retry_after_ms: int = 100
    """The `retry-after-ms` a 429 fault advises (`Retry-After` carries it rounded up to seconds)."""
    slow_first_byte: float = 1.0
    """Seconds the `slow-first-byte` fault waits before sending the status line."""
    fault_after_tokens: int = 3
    """Tokens sent before a mid-stream fault (`stream-error`, `drop`, `truncate`) strikes."""
    models: tuple[str, ...] = DEFAULT_MODELS
    """What `GET /v1/models` lists."""
    aws_access_key_id: str = DEFAULT_AWS_ACCESS_KEY_ID
    """The only access key id Bedrock requests may be signed with."""
    aws_secret_access_key: str | None = DEFAULT_AWS_SECRET_ACCESS_KEY
    """The secret Bedrock signatures are recomputed with (SigV4, by botocore); `None` accepts any
    well-formed signature from any access key (as `api_key=None` accepts any key)."""

    def __post_init__(self) -> None:
        if self.tokens < 0:
            raise ValueError(f'tokens must be >= 0, got {self.tokens}')
        if self.tokens_per_second < 0:
            raise ValueError(f'tokens_per_second must be >= 0, got {self.tokens_per_second}')
        if self.ttft < 0 or self.slow_first_byte < 0:
            raise ValueError('ttft and slow_first_byte must be >= 0 seconds')
        if self.retry_after_ms < 0 or self.fault_after_tokens < 0:
            raise ValueError('retry_after_ms and fault_after_tokens must be >= 0')
        if self.api_key == '':
            raise ValueError('api_key must be a non-empty string, or None to accept any key')
        if not self.aws_access_key_id or self.aws_secret_access_key == '':
            raise ValueError('aws_access_key_id and aws_secret_access_key must be non-empty strings')
