"""numbered_lines and gunzip: how an uploaded byte stream becomes numbered lines."""

from __future__ import annotations

import gzip

import pytest

from ingest.errors import FileRejectedError
from ingest.logic.lines import MAX_LINE_BYTES, Line, gunzip, is_gzip, numbered_lines


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def as_pairs(lines) -> list[tuple[int, bytes, bool]]:
    return [(line.number, line.raw, line.too_long) for line in lines]


# -- numbered_lines ---------------------------------------------------------------------------

def test_plain_lines_are_numbered_from_one():
    assert as_pairs(numbered_lines([b'{"a":1}\n{"a":2}\n'])) == [
        (1, b'{"a":1}', False),
        (2, b'{"a":2}', False),
    ]


def test_utf8_bom_is_removed_from_the_first_line_only():
    data = b'\xef\xbb\xbf{"a":1}\n\xef\xbb\xbf{"a":2}\n'
    lines = list(numbered_lines([data]))
    assert lines[0] == Line(1, b'{"a":1}')
    # A BOM in the middle of the file is data, not a byte-order mark.
    assert lines[1] == Line(2, b'\xef\xbb\xbf{"a":2}')


def test_bom_followed_by_crlf_file():
    assert as_pairs(numbered_lines([b"\xef\xbb\xbfa\r\nb\r\n"])) == [(1, b"a", False), (2, b"b", False)]


def test_crlf_endings_are_stripped():
    assert [line.raw for line in numbered_lines([b"one\r\ntwo\r\nthree\r\n"])] == [b"one", b"two", b"three"]


def test_blank_lines_count_for_numbering_but_are_not_yielded():
    data = b"first\n\n   \n\r\nfifth\n\t\nseventh"
    assert as_pairs(numbered_lines([data])) == [
        (1, b"first", False),
        (5, b"fifth", False),
        (7, b"seventh", False),
    ]


def test_last_line_without_newline_is_yielded():
    assert as_pairs(numbered_lines([b"a\nb"])) == [(1, b"a", False), (2, b"b", False)]


def test_last_line_without_newline_but_with_cr_is_stripped():
    assert as_pairs(numbered_lines([b"a\r\nb\r"])) == [(1, b"a", False), (2, b"b", False)]


def test_trailing_newline_does_not_add_an_empty_line():
    assert as_pairs(numbered_lines([b"a\nb\n"])) == [(1, b"a", False), (2, b"b", False)]


def test_empty_stream_and_empty_chunks_yield_nothing():
    assert list(numbered_lines([])) == []
    assert list(numbered_lines([b"", b""])) == []


def test_bom_is_removed_even_when_empty_chunks_come_first():
    assert as_pairs(numbered_lines([b"", b"\xef\xbb\xbfa\n"])) == [(1, b"a", False)]


def test_too_long_line_is_reported_and_the_next_line_keeps_its_number():
    data = b"short\n" + b"x" * 20 + b"\nafter\n"
    assert as_pairs(numbered_lines([data], max_line_bytes=10)) == [
        (1, b"short", False),
        (2, b"", True),
        (3, b"after", False),
    ]


def test_too_long_line_spread_over_many_chunks_is_reported_once():
    data = b"a\n" + b"y" * 50 + b"\nb\n\nc\n"
    for size in (1, 3, 7, 11, 64):
        assert as_pairs(numbered_lines(pieces(data, size), max_line_bytes=10)) == [
            (1, b"a", False),
            (2, b"", True),
            (3, b"b", False),
            (5, b"c", False),
        ], size


def test_too_long_last_line_without_newline_is_reported():
    data = b"a\n" + b"z" * 30
    for size in (4, 100):
        assert as_pairs(numbered_lines(pieces(data, size), max_line_bytes=10)) == [
            (1, b"a", False),
            (2, b"", True),
        ], size


def test_line_of_exactly_the_limit_is_accepted():
    data = b"x" * 10 + b"\n" + b"y" * 11 + b"\n"
    for size in (3, 100):
        assert as_pairs(numbered_lines(pieces(data, size), max_line_bytes=10)) == [
            (1, b"x" * 10, False),
            (2, b"", True),
        ], size


def test_default_limit_is_one_mebibyte():
    assert MAX_LINE_BYTES == 1024 * 1024
    big = b"{" + b" " * MAX_LINE_BYTES + b"}"
    data = b'{"a":1}\n' + big + b'\n{"a":3}\n'
    result = as_pairs(numbered_lines(pieces(data, 64 * 1024)))
    assert result == [(1, b'{"a":1}', False), (2, b"", True), (3, b'{"a":3}', False)]


def test_too_long_lines_are_not_held_in_memory():
    # A 3 MB line fed in 1 KB pieces: the reader gives up on it without keeping its bytes.
    data = [b"x" * 1024 for _ in range(3 * 1024)] + [b"\nok\n"]
    result = list(numbered_lines(iter(data)))
    assert result == [Line(1, b"", True), Line(2, b"ok")]


CHUNKING_SAMPLE = (
    b'\xef\xbb\xbf{"id":"alpha"}\r\n'
    b"\r\n"
    b'{"id":"b\xc3\xa9ta"}\r\n'
    b"\n"
    b"   \n"
    b'{"id":"gamma"}\n'
    b'{"id":"delta"}\r\n'
    b'{"id":"epsilon"}'
)
CHUNKING_EXPECTED = [
    (1, b'{"id":"alpha"}', False),
    (3, b'{"id":"b\xc3\xa9ta"}', False),
    (6, b'{"id":"gamma"}', False),
    (7, b'{"id":"delta"}', False),
    (8, b'{"id":"epsilon"}', False),
]


@pytest.mark.parametrize("size", [3, 4, 5, 7, 13, 16, 17, 1000])
def test_chunk_boundaries_anywhere_give_the_same_lines(size):
    assert as_pairs(numbered_lines(pieces(CHUNKING_SAMPLE, size))) == CHUNKING_EXPECTED


def test_every_single_split_point_gives_the_same_lines():
    # Covers splits inside a line, between \r and \n, and right after a newline. The first
    # piece keeps the whole BOM (the reader detects it in the first chunk).
    for cut in range(3, len(CHUNKING_SAMPLE)):
        chunks = [CHUNKING_SAMPLE[:cut], CHUNKING_SAMPLE[cut:]]
        assert as_pairs(numbered_lines(chunks)) == CHUNKING_EXPECTED, cut


def test_crlf_split_between_chunks():
    assert as_pairs(numbered_lines([b"abc\r", b"\ndef\r", b"\n"])) == [(1, b"abc", False), (2, b"def", False)]


def test_blank_crlf_line_split_between_chunks_is_counted_not_yielded():
    assert as_pairs(numbered_lines([b"a\n\r", b"\nb\n"])) == [(1, b"a", False), (3, b"b", False)]


# -- gzip ----------------------------------------------------------------------------------------

def test_is_gzip_detects_magic_bytes_not_names():
    assert is_gzip(gzip.compress(b"x"))
    assert not is_gzip(b'{"a":1}')
    assert not is_gzip(b"\x1f")
    assert not is_gzip(b"")


def test_gunzip_single_member_in_small_pieces():
    payload = b"".join(b'{"n":%d}\n' % i for i in range(500))
    compressed = gzip.compress(payload)
    assert b"".join(gunzip(pieces(compressed, 5))) == payload


def test_gunzip_multi_member_stream():
    members = [b"a\nb\n", b"c\n", b"d\ne\n"]
    compressed = b"".join(gzip.compress(member) for member in members)
    expected = b"".join(members)
    for size in (1, 2, 7, 29, len(compressed)):
        assert b"".join(gunzip(pieces(compressed, size))) == expected, size


def test_gunzip_member_boundary_exactly_on_chunk_boundary():
    first, second = gzip.compress(b"one\n"), gzip.compress(b"two\n")
    assert b"".join(gunzip([first, second])) == b"one\ntwo\n"


def test_gunzip_feeds_numbered_lines():
    compressed = gzip.compress(b"\xef\xbb\xbfa\r\n\r\nb\n") + gzip.compress(b"c")
    assert as_pairs(numbered_lines(gunzip([compressed]))) == [
        (1, b"a", False),
        (3, b"b", False),
        (4, b"c", False),
    ]


def test_gunzip_in_tiny_pieces_feeds_numbered_lines():
    compressed = gzip.compress(b"a\r\n\r\nb\n") + gzip.compress(b"c\r\nd")
    assert as_pairs(numbered_lines(gunzip(pieces(compressed, 3)))) == [
        (1, b"a", False),
        (3, b"b", False),
        (4, b"c", False),
        (5, b"d", False),
    ]


@pytest.mark.parametrize("cut", [-1, -4, -8, -20, 12, 5])
def test_truncated_gzip_is_rejected(cut):
    compressed = gzip.compress(b"".join(b'{"n":%d}\n' % i for i in range(200)))
    with pytest.raises(FileRejectedError, match="truncated"):
        b"".join(gunzip(pieces(compressed[:cut], 16)))


def test_truncated_second_member_is_rejected():
    compressed = gzip.compress(b"a\n") + gzip.compress(b"b" * 100 + b"\n")[:-6]
    with pytest.raises(FileRejectedError, match="truncated"):
        b"".join(gunzip([compressed]))


def test_gzip_with_bad_checksum_is_rejected_as_corrupt():
    compressed = bytearray(gzip.compress(b"hello\n" * 50))
    compressed[-8] ^= 0xFF  # CRC32 of the trailer
    with pytest.raises(FileRejectedError, match="corrupt") as info:
        b"".join(gunzip([bytes(compressed)]))
    assert "truncated" not in str(info.value)


def test_gzip_with_garbage_after_a_member_is_rejected_as_corrupt():
    with pytest.raises(FileRejectedError, match="corrupt"):
        b"".join(gunzip([gzip.compress(b"a\n") + b"not gzip at all"]))


def test_gzip_with_corrupt_header_is_rejected_as_corrupt():
    compressed = bytearray(gzip.compress(b"a\n"))
    compressed[2] = 0x07  # compression method must be 8 (deflate)
    with pytest.raises(FileRejectedError, match="corrupt"):
        b"".join(gunzip([bytes(compressed)]))


def test_crlf_line_of_exactly_the_limit_is_accepted_like_its_lf_twin():
    from ingest.logic.lines import numbered_lines as lines_of

    assert [(line.number, line.raw, line.too_long) for line in lines_of([b"abcd\r\nxy\n"], max_line_bytes=4)] == [
        (1, b"abcd", False), (2, b"xy", False)]


def test_byte_order_mark_split_across_chunks_is_removed():
    from ingest.logic.lines import numbered_lines as lines_of

    assert [line.raw for line in lines_of([b"\xef", b"\xbb", b"\xbf{}\n"])] == [b"{}"]


def test_too_long_at_once_answers_before_the_line_ends_and_numbers_as_before():
    data = b"a\n\n" + b"y" * 50 + b"\nb\n" + b"z" * 30
    for size in (1, 3, 7, 64):
        read: list[int] = []
        counted = (read.append(len(chunk)) or chunk for chunk in pieces(data, size))
        lines = numbered_lines(counted, max_line_bytes=10, too_long_at_once=True)
        assert as_pairs([next(lines), next(lines)]) == [(1, b"a", False), (3, b"", True)], size
        # Answered within a chunk of passing the limit (plus its room for a CR), not at the line's end.
        assert sum(read) <= len(b"a\n\n") + 10 + 2 + size, size
        assert as_pairs(lines) == [(4, b"b", False), (5, b"", True)], size
