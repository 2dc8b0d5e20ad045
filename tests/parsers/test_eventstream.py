"""The AWS event-stream decoder and encoder against the format (Smithy's Amazon Event Stream
Specification), AWS's own test vectors and recorded Bedrock ConverseStream bodies."""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml

from modelkit.exceptions import StreamProtocolError, UserError
from modelkit.parsers import Parser
from modelkit.parsers.eventstream import (
    MAX_HEADERS_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_PAYLOAD_BYTES,
    EventStreamDecoder,
    EventStreamMessage,
    Int8,
    Int16,
    Int32,
    Int64,
    encode_message,
)
from tests.parsers._decode import all_ways_with, bytewise, decode_with


def decode(chunks: Iterable[bytes]) -> tuple[list[EventStreamMessage], EventStreamDecoder]:
    """Feed every chunk, close, and return everything plus the decoder (for `truncated`)."""
    decoder = EventStreamDecoder()
    return decode_with(decoder, chunks), decoder


def all_ways(body: bytes) -> list[EventStreamMessage]:
    return all_ways_with(EventStreamDecoder, body)


def frame(headers: bytes, payload: bytes, *, total: int | None = None) -> bytes:
    """A message built by hand from raw header bytes, with correct CRCs (unless told a total)."""
    prelude = struct.pack('>II', 16 + len(headers) + len(payload) if total is None else total, len(headers))
    prelude += zlib.crc32(prelude).to_bytes(4)
    body = prelude + headers + payload
    return body + zlib.crc32(body).to_bytes(4)


def string_header(name: bytes, value: bytes) -> bytes:
    return bytes((len(name),)) + name + b'\x07' + len(value).to_bytes(2) + value


def test_decoder_is_a_parser() -> None:
    parser: Parser[EventStreamMessage] = EventStreamDecoder()
    assert parser.feed(encode_message({}, b'x')) == [EventStreamMessage({}, b'x')]


# AWS's test vectors (aws-sdk-go's testdata, also in aws-sdk-ruby): encoded messages, decoded fields.


def _vectors(wire_fixtures: Path, kind: str) -> list[tuple[str, bytes, str]]:
    root = wire_fixtures / 'aws-eventstream-vectors'
    found = [
        (path.name, path.read_bytes(), (root / 'decoded' / kind / path.name).read_text())
        for path in sorted((root / 'encoded' / kind).iterdir())
    ]
    assert found, f'no {kind} vectors under {root}'
    return found


def test_aws_positive_vectors(wire_fixtures: Path) -> None:
    for name, encoded, decoded_text in _vectors(wire_fixtures, 'positive'):
        expected = json.loads(decoded_text)
        total, headers_length, prelude_crc = struct.unpack('>IIi', encoded[:12])
        (message_crc,) = struct.unpack('>i', encoded[-4:])
        assert (total, headers_length, prelude_crc, message_crc) == (
            expected['total_length'],
            expected['headers_length'],
            expected['prelude_crc'],
            expected['message_crc'],
        ), name
        assert len(encoded) == total, name
        [message] = all_ways(encoded)
        assert message.payload == base64.b64decode(expected['payload']), name
        assert len(message.headers) == len(expected['headers']), name
        for header in expected['headers']:
            value = message.headers[header['name']]
            if header['type'] == 7:
                assert value == base64.b64decode(header['value']).decode(), name
            elif header['type'] in (6, 9):
                raw = value.bytes if isinstance(value, uuid.UUID) else value
                assert raw == base64.b64decode(header['value']), name
            else:
                assert value == header['value'], name
        # Our encoder writes AWS's bytes exactly, both CRCs included.
        assert encode_message(message.headers, message.payload) == encoded, name


def test_aws_negative_vectors(wire_fixtures: Path) -> None:
    for name, encoded, error_text in _vectors(wire_fixtures, 'negative'):
        documented = error_text.strip().lower()
        assert documented in {'prelude checksum mismatch', 'message checksum mismatch'}, name
        for chunks in ([encoded], bytewise(encoded)):
            with pytest.raises(StreamProtocolError) as caught:
                decode(chunks)
            assert documented in str(caught.value).lower(), name


# Recorded Bedrock ConverseStream bodies (pydantic-ai cassettes, base64 event-stream bodies).


def _bedrock_streams(wire_fixtures: Path) -> list[tuple[str, bytes]]:
    bodies: list[tuple[str, bytes]] = []
    for path in sorted((wire_fixtures / 'bedrock' / 'pydantic-ai').glob('*stream*.yaml')):
        cassette = yaml.safe_load(path.read_text())
        for i, interaction in enumerate(cassette['interactions']):
            if interaction['request']['uri'].endswith('/converse-stream'):
                body = interaction['response']['body']['string']
                assert isinstance(body, bytes), path.name
                bodies.append((f'{path.name}#{i}', body))
    return bodies


def test_recorded_bedrock_streams(wire_fixtures: Path) -> None:
    bodies = _bedrock_streams(wire_fixtures)
    assert len(bodies) >= 4
    for name, body in bodies:
        messages, decoder = decode([body])
        assert not decoder.truncated, name
        assert sum(len(encode_message(m.headers, m.payload)) for m in messages) == len(body), name
        types = [m.headers[':event-type'] for m in messages]
        assert types[0] == 'messageStart', name
        assert types[-2:] == ['messageStop', 'metadata'], name
        assert 'contentBlockDelta' in types, name
        assert set(types) <= {
            'messageStart',
            'contentBlockStart',
            'contentBlockDelta',
            'contentBlockStop',
            'messageStop',
            'metadata',
        }, name
        for message in messages:
            assert message.headers[':message-type'] == 'event', name
            assert message.headers[':content-type'] == 'application/json', name
            assert isinstance(orjson.loads(message.payload), dict), name
        assert b''.join(encode_message(m.headers, m.payload) for m in messages) == body, name
        assert decode(bytewise(body))[0] == messages, name
        assert decode([body[i : i + 37] for i in range(0, len(body), 37)])[0] == messages, name


# Header value types, one per wire type.


def test_every_header_type_decodes_to_its_python_type() -> None:
    when = datetime(2024, 2, 29, 12, 30, 15, 123000, tzinfo=UTC)
    ident = uuid.UUID('0123a567-89ab-4def-8123-456789abcdef')
    raw = (
        b'\x01t\x00'
        + b'\x01f\x01'
        + b'\x01b\x02\xff'
        + b'\x01s\x03\x80\x00'
        + b'\x01i\x04\x7f\xff\xff\xff'
        + b'\x01l\x05\xff\xff\xff\xff\xff\xff\xff\xfe'
        + b'\x01a\x06\x00\x03\x00\x01\x02'
        + string_header(b'str', 'é東😀'.encode())
        + b'\x01d\x08'
        + struct.pack('>q', 1709209815123)
        + b'\x01u\x09'
        + ident.bytes
    )
    [message] = all_ways(frame(raw, b'{}'))
    assert message.headers == {
        't': True,
        'f': False,
        'b': -1,
        's': -32768,
        'i': 2**31 - 1,
        'l': -2,
        'a': b'\x00\x01\x02',
        'str': 'é東😀',
        'd': when,
        'u': ident,
    }
    kinds = {name: type(value) for name, value in message.headers.items()}
    assert kinds == {
        't': bool,
        'f': bool,
        'b': Int8,
        's': Int16,
        'i': Int32,
        'l': Int64,
        'a': bytes,
        'str': str,
        'd': datetime,
        'u': uuid.UUID,
    }
    assert message.payload == b'{}'
    # And the encoder writes each back with the same wire type.
    assert encode_message(message.headers, message.payload) == frame(raw, b'{}')


def test_timestamps_before_the_epoch_and_plain_ints() -> None:
    before = datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC)
    [message] = all_ways(encode_message({'when': before, 'n': 2**40}, b''))
    assert message.headers == {'when': before, 'n': 2**40}
    assert type(message.headers['n']) is Int64  # a plain int goes as an int64


def test_empty_payload_and_no_headers() -> None:
    body = encode_message({}, b'')
    assert len(body) == 16
    assert all_ways(body) == [EventStreamMessage({}, b'')]


def test_a_timestamp_outside_datetime_is_our_error() -> None:
    body = frame(b'\x01d\x08' + struct.pack('>q', 2**62), b'')
    with pytest.raises(StreamProtocolError, match="timestamp header 'd' is outside years 1-9999"):
        decode([body])


# Malformed headers: the message's CRCs are right, its headers section is not.


@pytest.mark.parametrize(
    ('raw', 'error'),
    [
        (b'\x01x\x0a', "header 'x' has unknown type 10"),
        (b'\x01x\xff', "header 'x' has unknown type 255"),
        (b'\x05ab', 'a header name runs past the headers section'),
        (b'\x01x', 'a header name runs past the headers section'),
        (b'\x00\x00', 'an empty header name'),
        (b'\x01x\x07\x00\x05abc', "header 'x' runs past the headers section"),
        (b'\x01x\x07\x00', "header 'x' runs past the headers section"),
        (b'\x01x\x06\x01\x00', "header 'x' runs past the headers section"),
        (b'\x01x\x04\x00\x00', "header 'x' runs past the headers section"),
        (b'\x01x\x05' + b'\x00' * 7, "header 'x' runs past the headers section"),
        (b'\x01x\x08\x00', "header 'x' runs past the headers section"),
        (b'\x01x\x09' + b'\x00' * 15, "header 'x' runs past the headers section"),
        (b'\x01x\x00\x01x\x01', "header 'x' appears twice"),
        (string_header(b'x', b'a') + string_header(b'x', b'b'), "header 'x' appears twice"),
        (b'\x01\xff\x00', 'invalid UTF-8'),
        (string_header(b'x', b'\xc3'), 'invalid UTF-8'),
    ],
)
def test_malformed_headers_are_our_error(raw: bytes, error: str) -> None:
    body = frame(raw, b'{}')
    for chunks in ([body], bytewise(body)):
        with pytest.raises(StreamProtocolError, match='malformed headers') as caught:
            decode(chunks)
        assert error in str(caught.value)
        assert 'at byte 0' in str(caught.value)


# Checksums and lengths.


def test_each_checksum_is_checked_and_named() -> None:
    good = encode_message({':event-type': 'x'}, b'{"a":1}')
    bad_prelude = good[:8] + bytes((good[8] ^ 1,)) + good[9:]
    bad_message = good[:-1] + bytes((good[-1] ^ 1,))
    bad_payload = good[:-6] + b'2' + good[-5:]
    with pytest.raises(StreamProtocolError, match='prelude checksum mismatch'):
        decode([bad_prelude])
    with pytest.raises(StreamProtocolError, match='message checksum mismatch'):
        decode([bad_message])
    with pytest.raises(StreamProtocolError, match='message checksum mismatch'):
        decode([bad_payload])


def test_a_corrupt_length_is_caught_by_the_prelude_crc_before_waiting_for_it() -> None:
    good = encode_message({}, b'x')
    huge = (2**32 - 1).to_bytes(4) + good[4:]  # prelude CRC now wrong
    decoder = EventStreamDecoder()
    for byte in bytewise(huge[:11]):
        assert decoder.feed(byte) == []
    with pytest.raises(StreamProtocolError, match='prelude checksum mismatch'):
        decoder.feed(huge[11:12])


def test_lengths_are_bounded_by_named_constants() -> None:
    assert MAX_MESSAGE_BYTES == MAX_PAYLOAD_BYTES + MAX_HEADERS_BYTES + 16
    too_many_headers = struct.pack('>II', 16 + MAX_HEADERS_BYTES + 1, MAX_HEADERS_BYTES + 1)
    too_big_payload = struct.pack('>II', 16 + MAX_PAYLOAD_BYTES + 1, 0)
    too_short = struct.pack('>II', 15, 0)
    short_for_headers = struct.pack('>II', 20, 5)
    for prelude, error in [
        (too_many_headers, 'MAX_HEADERS_BYTES'),
        (too_big_payload, 'MAX_PAYLOAD_BYTES'),
        (too_short, 'total length 15 too short for 0 header bytes'),
        (short_for_headers, 'total length 20 too short for 5 header bytes'),
    ]:
        prelude += zlib.crc32(prelude).to_bytes(4)
        # Refused on the prelude alone: nothing of the announced size is buffered.
        with pytest.raises(StreamProtocolError, match=error):
            EventStreamDecoder().feed(prelude)


def test_the_largest_payload_is_accepted() -> None:
    body = encode_message({':event-type': 'big'}, b'x' * MAX_PAYLOAD_BYTES)
    messages, decoder = decode([body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20)])
    assert len(messages[0].payload) == MAX_PAYLOAD_BYTES
    assert not decoder.truncated


def test_error_names_the_offset_of_the_bad_message() -> None:
    first = encode_message({}, b'one')
    bad = encode_message({}, b'two')[:-1] + b'\x00'
    with pytest.raises(StreamProtocolError, match=f'at byte {len(first)}$'):
        decode([first + bad])


# The truncation contract and the decoder's life cycle.


def test_a_cut_message_sets_truncated_and_close_does_not_raise() -> None:
    body = encode_message({':event-type': 'a'}, b'{}') + encode_message({':event-type': 'b'}, b'{}')
    for cut in range(1, len(body)):
        messages, decoder = decode([body[:cut]])
        complete = 1 if cut >= len(body) // 2 else 0
        assert len(messages) == complete
        assert decoder.truncated == (cut != len(body) // 2), cut


def test_messages_before_an_error_are_kept_and_the_error_then_sticks() -> None:
    good = encode_message({}, b'a')
    bad = good[:-1] + bytes((good[-1] ^ 1,))
    decoder = EventStreamDecoder()
    assert decoder.feed(good + bad) == [EventStreamMessage({}, b'a')]
    with pytest.raises(StreamProtocolError, match='message checksum mismatch'):
        decoder.feed(good)
    with pytest.raises(StreamProtocolError, match='message checksum mismatch'):
        decoder.close()


def test_feed_after_close_is_a_user_error() -> None:
    decoder = EventStreamDecoder()
    decoder.close()
    assert decoder.close() == []
    with pytest.raises(UserError, match='closed'):
        decoder.feed(b'')


def test_headers_are_not_shared_between_messages() -> None:
    body = encode_message({':event-type': 'x'}, b'1') * 2
    first, second = decode([body])[0]
    first.headers['mutated'] = True
    assert second.headers == {':event-type': 'x'}
    assert decode([body])[0][0].headers == {':event-type': 'x'}


# The encoder's own rules.


@pytest.mark.parametrize(
    ('headers', 'error'),
    [
        ({'': 'x'}, 'must be 1-255 bytes'),
        ({'x' * 256: 'x'}, 'must be 1-255 bytes'),
        ({'x': Int8(128)}, 'does not fit'),
        ({'x': Int16(-32769)}, 'does not fit'),
        ({'x': Int32(2**31)}, 'does not fit'),
        ({'x': 2**63}, 'does not fit'),
        ({'x': 'y' * 32768}, 'longer than 32,767 bytes'),
        ({'x': datetime(2024, 1, 1)}, 'timezone-aware'),
        ({'x': 1.5}, 'cannot encode a float'),
    ],
)
def test_encoder_refuses_what_the_format_cannot_carry(headers: dict[str, object], error: str) -> None:
    with pytest.raises(UserError, match=error):
        encode_message(headers, b'')  # type: ignore[arg-type]


def test_encoder_writes_whole_milliseconds() -> None:
    when = datetime(2024, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)
    [message] = decode([encode_message({'t': when}, b'')])[0]
    assert message.headers['t'] == when.replace(microsecond=999000)


def test_many_messages_in_one_body() -> None:
    body = b''.join(encode_message({':event-type': f'e{i}', 'n': Int32(i)}, b'%d' % i) for i in range(500))
    messages, _ = decode([body])
    assert [m.headers['n'] for m in messages] == list(range(500))
    assert decode(bytewise(body))[0] == messages
