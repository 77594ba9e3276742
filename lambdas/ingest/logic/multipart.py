"""multipart/form-data request bodies (RFC 7578), parsed with the standard library's email parser.

API Gateway hands the Lambda the whole body (base64-encoded, as multipart/form-data is one of the
REST API's binaryMediaTypes), so the body is already in memory and bounded by API Gateway's 10 MB
payload limit; no streaming parser is needed.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from typing import cast

from ingest.errors import BadRequestError

FORM_DATA = "multipart/form-data"


@dataclass(frozen=True)
class FilePart:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]  # text fields; a name sent twice keeps every value in `repeated`
    files: dict[str, FilePart]
    repeated: frozenset[str] = frozenset()


def parse_form(content_type: str | None, body: bytes) -> Form:
    """The fields and files of a multipart/form-data body; BadRequestError says what is wrong."""
    if not content_type or content_type.split(";", 1)[0].strip().lower() != FORM_DATA:
        raise BadRequestError(f"send the request as {FORM_DATA} (Content-Type: {FORM_DATA}; boundary=...)")
    # The email parser reads a MIME document: the Content-Type header (with its boundary), a blank
    # line, then the body. HTTP's policy keeps long header lines and CRLFs as sent.
    document = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(document)
    if not message.is_multipart() or message.defects:
        raise BadRequestError(f"the {FORM_DATA} body cannot be parsed: check its boundary and part headers")
    fields: dict[str, str] = {}
    files: dict[str, FilePart] = {}
    seen: set[str] = set()
    repeated: set[str] = set()
    for part in message.iter_parts():
        if part.get_content_disposition() != "form-data" or not part.get_param("name", header="content-disposition"):
            raise BadRequestError("every part of the form needs Content-Disposition: form-data; name=\"...\"")
        # Policy HTTP makes every part an EmailMessage: get_param decodes an RFC 2231 value to its text.
        name = cast(str, part.get_param("name", header="content-disposition"))
        if name in seen:
            repeated.add(name)
        seen.add(name)
        data = cast(bytes, part.get_payload(decode=True) or b"")  # a part's decoded body (None if empty)
        filename = part.get_filename()
        if filename is not None:
            files[name] = FilePart(filename, part.get_content_type(), data)
        else:
            try:
                fields[name] = data.decode(part.get_content_charset() or "utf-8")
                # A charset such as unicode_escape can decode to a lone surrogate, which no store can hold.
                fields[name].encode("utf-8")
            except (LookupError, UnicodeDecodeError, UnicodeEncodeError):
                raise BadRequestError(f"form field {name!r} is not UTF-8 text") from None
    return Form(fields, files, frozenset(repeated))
