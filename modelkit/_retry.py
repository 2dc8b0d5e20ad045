"""When to retry an error status, and how long the server asked us to wait (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ('retry_after_seconds', 'retry_delay_in_body', 'should_retry')

# The patterns below are plain strings, compiled by `re`'s own cache on first use: compiling them at
# import would charge every cold start for a path (an error response) most never take.

_RETRY_STATUSES = frozenset({408, 409, 429})
"""Request timeout, conflict (lock contention) and rate limit: worth another try, like every 5xx."""

_DELAY_SECONDS = r'[0-9]+'
"""RFC 9110 section 10.2.3: `delay-seconds = 1*DIGIT`. Nothing else: no sign, no fraction, no
exponent, no `_` (Python's `float` reads `1e1` and `1_0` as ten)."""

_PLAIN_NUMBER = r'[0-9]+(?:\.[0-9]+)?'
"""`retry-after-ms` (OpenAI, Anthropic) is a plain decimal number of milliseconds."""

_DURATION = r'([0-9]+(?:\.[0-9]{1,9})?)s'
"""A protobuf `Duration` in JSON (https://protobuf.dev/programming-guides/json/): seconds with up to
nine fractional digits and an `s`, e.g. `37s`, `0.250s`."""

_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
_DAY = r'(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
_MONTH = '(' + '|'.join(_MONTHS) + ')'
_TIME = r'([0-9]{2}):([0-9]{2}):([0-9]{2})'
# RFC 9110 section 5.6.7: the IMF-fixdate a sender must use, and the two obsolete forms a recipient
# must still accept (RFC 850 with a two-digit year, and C's asctime()).
_IMF_FIXDATE = rf'{_DAY}, ([0-9]{{2}}) {_MONTH} ([0-9]{{4}}) {_TIME} GMT'
_LONG_DAY = r'(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)'
_RFC850_DATE = rf'{_LONG_DAY}, ([0-9]{{2}})-{_MONTH}-([0-9]{{2}}) {_TIME} GMT'
_ASCTIME_DATE = rf'{_DAY} {_MONTH} ([0-9 ][0-9]) {_TIME} ([0-9]{{4}})'


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an error status is worth another attempt."""
    # OpenAI and Anthropic send `x-should-retry` to override the status-based rule either way.
    hint = headers.get('x-should-retry')
    if hint == 'true':
        return True
    if hint == 'false':
        return False
    return status in _RETRY_STATUSES or status >= 500


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """`retry-after-ms` as a plain number, else `Retry-After` as delay-seconds or an HTTP-date.

    Anything else is ignored (None), as RFC 9110 asks of a value a recipient cannot parse.
    """
    millis = headers.get('retry-after-ms')
    if millis is not None and re.fullmatch(_PLAIN_NUMBER, millis := millis.strip()):
        # The stripped text: `str.strip` also drops characters `float` refuses (U+001F, ...).
        return float(millis) / 1000
    value = headers.get('retry-after')
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(_DELAY_SECONDS, value):
        return float(int(value))
    when = http_date(value)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay_in_body(body: bytes) -> float | None:
    """The wait Google APIs ask for in an error body, in seconds, or None.

    Google's error model (AIP-193; Gemini and Vertex AI send it, without a `Retry-After` header)
    puts it in a `google.rpc.RetryInfo` detail: `{"error": {"details": [{"@type":
    "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}`.
    """
    if b'google.rpc.RetryInfo' not in body:
        return None  # the usual case costs one search, no JSON parse
    import orjson

    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = payload.get('error') if isinstance(payload, dict) else None
    details = error.get('details') if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if (
            isinstance(detail, dict)
            and str(detail.get('@type', '')).endswith('google.rpc.RetryInfo')
            and isinstance(delay := detail.get('retryDelay'), str)
            and (match := re.fullmatch(_DURATION, delay.strip()))
        ):
            return float(match[1])
    return None


def http_date(value: str) -> datetime | None:
    """An HTTP-date in any of RFC 9110's three forms, or None."""
    if match := re.fullmatch(_IMF_FIXDATE, value):
        day, month, year, hour, minute, second = match.groups()
    elif match := re.fullmatch(_RFC850_DATE, value):
        day, month, short_year, hour, minute, second = match.groups()
        # RFC 9110: a two-digit year more than 50 years in the future means the past century.
        century = datetime.now(UTC).year // 100 * 100
        year_number = century + int(short_year)
        if year_number > datetime.now(UTC).year + 50:
            year_number -= 100
        year = str(year_number)
    elif match := re.fullmatch(_ASCTIME_DATE, value):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    try:
        return datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:  # 31 Feb, 25:00:00, ...
        return None
