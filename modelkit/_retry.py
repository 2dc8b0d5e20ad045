"""When to retry an error status, and how long the server asked us to wait (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ('retry_after_seconds', 'should_retry')

_RETRY_STATUSES = frozenset({408, 409, 429})
"""Request timeout, conflict (lock contention) and rate limit: worth another try, like every 5xx."""

_DELAY_SECONDS = re.compile(r'[0-9]+')
"""RFC 9110 section 10.2.3: `delay-seconds = 1*DIGIT`. Nothing else: no sign, no fraction, no
exponent, no `_` (Python's `float` reads `1e1` and `1_0` as ten)."""

_PLAIN_NUMBER = re.compile(r'[0-9]+(?:\.[0-9]+)?')
"""`retry-after-ms` (OpenAI, Anthropic) is a plain decimal number of milliseconds."""

_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
_DAY = r'(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
_MONTH = '(' + '|'.join(_MONTHS) + ')'
_TIME = r'([0-9]{2}):([0-9]{2}):([0-9]{2})'
# RFC 9110 section 5.6.7: the IMF-fixdate a sender must use, and the two obsolete forms a recipient
# must still accept (RFC 850 with a two-digit year, and C's asctime()).
_IMF_FIXDATE = re.compile(rf'{_DAY}, ([0-9]{{2}}) {_MONTH} ([0-9]{{4}}) {_TIME} GMT')
_LONG_DAY = r'(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)'
_RFC850_DATE = re.compile(rf'{_LONG_DAY}, ([0-9]{{2}})-{_MONTH}-([0-9]{{2}}) {_TIME} GMT')
_ASCTIME_DATE = re.compile(rf'{_DAY} {_MONTH} ([0-9 ][0-9]) {_TIME} ([0-9]{{4}})')


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
    if millis is not None and _PLAIN_NUMBER.fullmatch(millis := millis.strip()):
        # The stripped text: `str.strip` also drops characters `float` refuses (U+001F, ...).
        return float(millis) / 1000
    value = headers.get('retry-after')
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(int(value))
    when = http_date(value)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def http_date(value: str) -> datetime | None:
    """An HTTP-date in any of RFC 9110's three forms, or None."""
    if match := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hour, minute, second = match.groups()
    elif match := _RFC850_DATE.fullmatch(value):
        day, month, short_year, hour, minute, second = match.groups()
        # RFC 9110: a two-digit year more than 50 years in the future means the past century.
        century = datetime.now(UTC).year // 100 * 100
        year_number = century + int(short_year)
        if year_number > datetime.now(UTC).year + 50:
            year_number -= 100
        year = str(year_number)
    elif match := _ASCTIME_DATE.fullmatch(value):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    try:
        return datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:  # 31 Feb, 25:00:00, ...
        return None
