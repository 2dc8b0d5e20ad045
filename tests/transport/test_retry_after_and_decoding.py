"""Property tests of the pure pieces under the transport: Retry-After parsing and bounded decoding."""

from __future__ import annotations

import contextlib
import gzip
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelkit._decoding import ContentDecoder, ContentDecodingError, content_decoder
from modelkit._retry import http_date, retry_after_seconds

NOW = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


@given(st.text())
def test_retry_after_is_digits_a_date_or_ignored(value: str) -> None:
    seconds = retry_after_seconds({'retry-after': value}, now=NOW)
    stripped = value.strip()
    if stripped.isascii() and stripped.isdigit():
        assert seconds == float(int(stripped))  # seconds are a float: exact up to 2**53
    elif http_date(stripped) is None:
        assert seconds is None
    else:
        assert seconds is not None
        assert seconds >= 0


@given(st.integers(min_value=0, max_value=10**12))
def test_delay_seconds_are_read_exactly(value: int) -> None:
    assert retry_after_seconds({'retry-after': str(value)}, now=NOW) == value


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    )
)
def test_an_imf_fixdate_is_read_as_the_time_until_it(when: datetime) -> None:
    when = when.replace(tzinfo=UTC)
    seconds = retry_after_seconds({'retry-after': format_datetime(when, usegmt=True)}, now=NOW)
    assert seconds == max(0.0, (when - NOW).total_seconds())


@pytest.mark.parametrize(
    'value', ['1e1', '1_0', '+10', '-3', '10.0', '0x10', '١٠', 'nan', 'inf', '1 0', '', 'soon', '10s']
)
def test_what_rfc_9110_does_not_allow_is_ignored(value: str) -> None:
    assert retry_after_seconds({'retry-after': value}, now=NOW) is None


def test_the_obsolete_date_forms_are_accepted() -> None:
    later = NOW + timedelta(seconds=30)
    assert retry_after_seconds({'retry-after': 'Tuesday, 01-Dec-26 09:00:30 GMT'}, now=NOW) == 30
    assert retry_after_seconds({'retry-after': 'Tue Dec  1 09:00:30 2026'}, now=NOW) == 30
    assert retry_after_seconds({'retry-after': format_datetime(later, usegmt=True)}, now=NOW) == 30


@given(st.text())
def test_retry_after_ms_is_a_plain_number_or_ignored(value: str) -> None:
    seconds = retry_after_seconds({'retry-after-ms': value, 'retry-after': '7'}, now=NOW)
    stripped = value.strip()
    plain = stripped.isascii() and stripped.replace('.', '', 1).isdigit() and not stripped.startswith('.')
    plain = plain and not stripped.endswith('.')
    assert seconds == (float(stripped) / 1000 if plain else 7)


def decode_all(decoder: ContentDecoder, pieces: list[bytes], limit: int) -> bytes:
    out = bytearray()
    for piece in pieces:
        decoder.feed(piece)
        while chunk := decoder.read(limit):
            assert len(chunk) <= limit
            out += chunk
    out += decoder.close()
    return bytes(out)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(
    st.binary(max_size=5000),
    st.sampled_from(['gzip', 'deflate', 'raw']),
    st.lists(st.integers(min_value=0), max_size=20),
    st.integers(min_value=1, max_value=4096),
)
def test_decoding_does_not_depend_on_how_the_body_is_split(
    body: bytes, coding: str, cuts: list[int], limit: int
) -> None:
    if coding == 'gzip':
        wire = gzip.compress(body) + gzip.compress(body[::-1])  # two members
        expected = body + body[::-1]
    elif coding == 'deflate':
        wire, expected = zlib.compress(body), body
    else:
        raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        wire, expected = raw.compress(body) + raw.flush(), body
    decoder = content_decoder('gzip' if coding == 'gzip' else 'deflate')
    assert decoder is not None
    assert decode_all(decoder, split(wire, cuts), limit) == expected


@given(st.binary(min_size=1, max_size=200))
def test_garbage_raises_our_error_or_decodes(garbage: bytes) -> None:
    decoder = content_decoder('gzip')
    assert decoder is not None
    with contextlib.suppress(ContentDecodingError):
        decode_all(decoder, [garbage], 1024)


def test_unsupported_and_stacked_codings_are_refused() -> None:
    assert content_decoder(None) is None
    assert content_decoder('identity') is None
    for coding in ('br', 'zstd', 'gzip, br', 'compress'):
        with pytest.raises(ContentDecodingError, match='unsupported content-encoding'):
            content_decoder(coding)
