"""Generated upload files of any size, written as a stream (nothing proportional to the file in memory):
NDJSON Lexer customer_records of ~500 bytes, each with its own key (link.customer_id), and the same
lines gzipped. Files are cached by size under the bench's data directory, so a second run reuses them.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

RECORD_TYPE = "customer_record"
TEMPLATES = 997  # distinct record bodies (a prime, so bodies and ids do not fall into step)
WRITE_BLOCK = 4 * 1024 * 1024
ID = "\x00ID\x00"


def _templates(seed: int = 12) -> list[tuple[bytes, ...]]:
    """Record bodies with two places for the record's number: its link and its email."""
    rng = random.Random(seed)
    first_names = ["Mia", "Sam", "Lee", "Ava", "Noah", "Zoe", "Liam", "Isla"]
    last_names = ["Chen", "Okafor", "Nguyen", "Smith", "Rossi", "Kowalski", "Singh", "Brown"]
    cities = [("Fitzroy", "Victoria", "3065"), ("Newtown", "New South Wales", "2042"),
              ("Fremantle", "Western Australia", "6160")]
    bodies = []
    for _ in range(TEMPLATES):
        first, last = rng.choice(first_names), rng.choice(last_names)
        city, state, postcode = rng.choice(cities)
        record = {
            "link": {"customer_id": f"crm-{ID}", "system_name": "shopfront_pos"},
            "email": f"{first.lower()}.{last.lower()}{ID}@example.com",
            "first_name": first, "last_name": last,
            "gender": rng.choice(["Female", "Male", "Non-binary"]),
            "date_of_birth": f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "country": "Australia", "state": state, "city": city, "postcode": postcode,
            "address_1": f"{rng.randrange(1, 400)} Brunswick St",
            "employee_flag": rng.random() < 0.05,
            "customer_type": rng.choice(["Gold", "Silver", "Bronze"]),
            "custom_fields": {"loyalty_points": rng.randrange(20000), "churn_risk": round(rng.random(), 2),
                              "tags": rng.sample(["newsletter", "early-adopter", "vip", "app-user"], 2),
                              "notes": "".join(rng.choice("abcdefghij klmnop") for _ in range(rng.randrange(40, 90)))},
        }
        text = json.dumps(record, separators=(",", ":")).encode()
        bodies.append(tuple(text.split(ID.encode("unicode_escape").replace(b"\\x", b"\\u00"))))
    return bodies


def lines(count: int | None = None, target_bytes: int | None = None):
    """Lines (with their newline) until `count` lines or `target_bytes` bytes."""
    bodies = _templates()
    written = number = 0
    while (count is None or number < count) and (target_bytes is None or written < target_bytes):
        head, middle, tail = bodies[number % TEMPLATES]
        ident = b"%010d" % number
        line = b"".join((head, ident, middle, ident, tail, b"\n"))
        written += len(line)
        number += 1
        yield line


def write_plain(path: Path, target_bytes: int) -> Path:
    """An NDJSON file of about target_bytes (whole lines), streamed to disk."""
    if path.exists() and path.stat().st_size >= target_bytes:
        return path
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as out:
        block: list[bytes] = []
        held = 0
        for line in lines(target_bytes=target_bytes):
            block.append(line)
            held += len(line)
            if held >= WRITE_BLOCK:
                out.write(b"".join(block))
                block, held = [], 0
        out.write(b"".join(block))
    os.replace(partial, path)
    return path


def write_gzip(path: Path, plain: Path, level: int = 6) -> Path:
    """The plain file gzipped (one member), streamed."""
    if path.exists() and path.stat().st_mtime >= plain.stat().st_mtime:
        return path
    partial = path.with_suffix(".partial")
    with open(plain, "rb") as source, gzip.open(partial, "wb", compresslevel=level) as out:
        while block := source.read(WRITE_BLOCK):
            out.write(block)
    os.replace(partial, path)
    return path


def write_gzip_members(path: Path, plain: Path, member_plain_bytes: int, level: int = 6) -> Path:
    """The plain file gzipped as independent members of `member_plain_bytes` of lines each, cut anywhere
    (as the CLI writes one member per multipart part), streamed."""
    if path.exists() and path.stat().st_mtime >= plain.stat().st_mtime:
        return path
    partial = path.with_suffix(".partial")
    with open(plain, "rb") as source, open(partial, "wb") as out:
        while block := source.read(member_plain_bytes):
            out.write(gzip.compress(block, compresslevel=level, mtime=0))
    os.replace(partial, path)
    return path
