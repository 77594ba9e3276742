"""Field kinds for record types declared as models, with pydantic 1.10's rules for what a value may be.

Lexer validates records with pydantic 1.10 models; a record type declared here accepts and refuses
exactly what such a model would (the few deliberate differences are in docs/record_types.md). One
declaration gives four things, so they cannot drift apart:

* `compile()`: the checker run on every line. It returns None for a good value, or a list of
  (path, message) problems; the path is relative, each enclosing model or list prepends its part.
  Checkers only judge: they never build a converted copy, so an accepted line costs no allocation
  beyond the parse, and the typed accept path (fast_path.py) sits in front of them.
* `json_schema()`: the canonical form served by `GET /v1/record-types` (what a client should send;
  the conversions below are accepted on top of it).
* `csv_value()` and `column()`: how a CSV cell is typed and which dotted headers exist.
* `rules()`: the bounds and enums the docs table lists.

Conversions pydantic makes and we accept: a number or boolean where a string is declared (5 is
"5", true is "True"), numeric strings and booleans where a number is declared ("1.5", true is 1.0),
floats truncated where an integer is declared (1.9 is 1), booleans from 0/1 and the words
true/false, yes/no, on/off, t/f, y/n in any case, date-times from ISO-ish strings (naive or with an
offset) and from unix seconds (or milliseconds), dates from YYYY-M-D or unix seconds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

# A checker's verdict: None, or problems as (path relative to the value, message).
Path = tuple
Problems = list  # list[tuple[Path, str]]
Checker = Callable[[Any], "Problems | None"]

NOT_NULL = "must not be null"


def _fail(message: str) -> Problems:
    return [((), message)]


# -- conversions (pydantic 1.10's validators, re-expressed) --------------------------------------

class Refused(ValueError):
    """A value the kind does not take; its message is the rule broken."""


def as_str(value: Any) -> str:
    """str: as is; numbers and booleans: Python's str() of them (pydantic's str_validator)."""
    if type(value) is str:
        return value
    if isinstance(value, (int, float)):  # bool is an int: true -> "True"
        return str(value)
    raise Refused(NOT_NULL if value is None else "must be a string")


def as_float(value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, (int, str)):  # bool included; float() takes " 1.5 ", "1_000", "nan", "inf"
        try:
            return float(value)
        except ValueError:
            pass
    raise Refused(NOT_NULL if value is None else "must be a number")


MAX_INT_TEXT = 4300  # pydantic refuses longer numeric strings outright (CPython's int DoS guard)


def as_int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, (int, float, str)) and not (type(value) is str and len(value) > MAX_INT_TEXT):
        try:
            return int(value)  # 1.9 -> 1, true -> 1, " 12 " -> 12; "1.5", nan, inf refused
        except (ValueError, OverflowError):
            pass
    raise Refused(NOT_NULL if value is None else "must be an integer")


TRUE_WORDS = frozenset({1, "1", "on", "t", "true", "y", "yes"})
FALSE_WORDS = frozenset({0, "0", "off", "f", "false", "n", "no"})


def as_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    probe = value.lower() if isinstance(value, str) else value
    try:
        if probe in TRUE_WORDS:  # 1.0 == 1 counts too, as in pydantic
            return True
        if probe in FALSE_WORDS:
            return False
    except TypeError:  # unhashable: an array or object
        pass
    raise Refused(NOT_NULL if value is None else "must be true or false")


_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_DATETIME_TEXT = re.compile(
    _DATE + r"[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d{0,6})?)?(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_DATE_TEXT = re.compile(_DATE + "$")
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (naive, as pydantic 1 reads a number: Lexer's verdicts)
_UNIX_CAP = int(3e20)  # beyond: datetime.max / datetime.min
_MILLIS_ABOVE = int(2e10)  # larger numbers are milliseconds (or micro-, nanoseconds): divide by 1000


def _unix(seconds: float) -> datetime:
    if seconds > _UNIX_CAP:
        return datetime.max  # noqa: DTZ901 (naive, as above)
    if seconds < -_UNIX_CAP:
        return datetime.min  # noqa: DTZ901 (naive, as above)
    while abs(seconds) > _MILLIS_ABOVE:
        seconds /= 1000
    return _EPOCH + timedelta(seconds=seconds)  # NaN raises ValueError


def _number_in(value: Any) -> float | int | None:
    """A unix time given as a number or a numeric string, else None (then it must be text)."""
    if isinstance(value, (int, float)):  # booleans too: true is 1970-01-01T00:00:01
        return value
    try:
        return float(value)  # " 1e9 ", "1_000", "inf" (datetime.max) all count
    except ValueError:
        return None


def _moment(value: Any, pattern: re.Pattern, build: Callable, rule: str):
    if value is None:
        raise Refused(NOT_NULL)
    if not isinstance(value, (int, float, str)):
        raise Refused(rule)
    try:
        number = _number_in(value)
        if number is not None:
            return build(_unix(number), None)
        match = pattern.match(value)
        if match is None:
            raise Refused(rule)
        return build(None, match)
    except (ValueError, OverflowError) as exc:  # out-of-range parts, NaN seconds
        raise Refused(str(exc) if isinstance(exc, Refused) else rule) from None


DATETIME_RULE = "must be a date-time, e.g. 2023-03-06T12:26:47Z (or unix seconds)"
DATE_RULE = "must be a date, e.g. 2023-03-06 (or unix seconds)"


def _datetime_of(unix: datetime | None, match: re.Match | None) -> datetime:
    if unix is not None:
        return unix
    if match is None:
        raise ValueError("a date-time needs its unix value or its text match")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = None
    if zone == "Z":
        tz = UTC
    elif zone is not None:
        offset = 60 * int(zone[1:3]) + (int(zone[-2:]) if len(zone) > 3 else 0)
        tz = timezone(timedelta(minutes=-offset if zone[0] == "-" else offset))  # |offset| < 24 h
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                    int(fraction.ljust(6, "0")) if fraction else 0, tzinfo=tz)


def _date_of(unix: datetime | None, match: re.Match | None) -> date:
    if unix is not None:
        return unix.date()
    if match is None:
        raise ValueError("a date needs its unix value or its text match")
    year, month, day = match.groups()
    return date(int(year), int(month), int(day))


def as_datetime(value: Any) -> datetime:
    return _moment(value, _DATETIME_TEXT, _datetime_of, DATETIME_RULE)


def as_date(value: Any) -> date:
    return _moment(value, _DATE_TEXT, _date_of, DATE_RULE)


# pydantic 1.10's HttpUrl: http(s) scheme, a host (a domain needs a top-level domain), port ≤ 65535,
# at most 2083 characters after stripping whitespace, nothing after the URL's parts.
_URL = re.compile(
    r"(?:(?P<scheme>[a-z][a-z0-9+\-.]+)://)?"
    r"(?:(?P<user>[^\s:/]*)(?::(?P<password>[^\s/]*))?@)?"
    r"(?:(?P<ipv4>(?:\d{1,3}\.){3}\d{1,3})(?=$|[/:#?])|(?P<ipv6>\[[A-F0-9]*:[A-F0-9:]+\])(?=$|[/:#?])|"
    r"(?P<domain>[^\s/:?#]+))?"
    r"(?::(?P<port>\d+))?"
    r"(?P<path>/[^\s?#]*)?(?:\?(?P<query>[^\s#]*))?(?:#(?P<fragment>[^\s#]*))?",
    re.IGNORECASE,
)
_ASCII_LABEL = r"[_0-9a-z](?:[-_0-9a-z]{0,61}[_0-9a-z])?"
_ASCII_DOMAIN = re.compile(rf"(?:{_ASCII_LABEL}\.)*?{_ASCII_LABEL}(?P<tld>\.[a-z]{{2,63}})?\.?", re.IGNORECASE)
_INT_LABEL = r"[_0-9a-\U00040000](?:[-_0-9a-\U00040000]{0,61}[_0-9a-\U00040000])?"
_INT_DOMAIN = re.compile(
    rf"(?:{_INT_LABEL}\.)*?{_INT_LABEL}(?P<tld>(\.[^\W\d_]{{2,63}})|(\.(?:xn--)[_0-9a-z-]{{2,63}}))?\.?",
    re.IGNORECASE,
)
MAX_URL_LENGTH = 2083


def check_http_url(value: Any) -> str | None:
    """None for a URL pydantic's HttpUrl takes, else the rule it breaks."""
    try:
        url = as_str(value).strip()
    except Refused as refused:
        return str(refused)
    if not url:
        return "must not be empty"
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters long"
    parts = _URL.match(url)  # every part is optional: it always matches
    if parts is None:
        return "must be a URL"
    scheme = parts["scheme"]
    if scheme is None or scheme.lower() not in ("http", "https"):
        return "must be an http or https URL"
    if parts["port"] is not None and int(parts["port"]) > 65535:
        return "must have a port ≤ 65535"
    if parts.end() != len(url):
        return f"must be a URL (unexpected {url[parts.end():parts.end() + 20]!r})"
    domain = parts["domain"]
    if domain:
        ascii_match = _ASCII_DOMAIN.fullmatch(domain)
        international = _INT_DOMAIN.fullmatch(domain)
        if ascii_match is None and international is None:
            return "must be a URL with a valid host"
        tld = ascii_match["tld"] if ascii_match is not None else None
        if tld is None:
            if international is None or international["tld"] is None:
                return "must be a URL whose host has a top-level domain"
            try:
                domain.encode("idna")
            except UnicodeError:
                return "must be a URL with a valid host"
    elif not (parts["ipv4"] or parts["ipv6"]):
        return "must be a URL with a host"
    return None


EMAIL_PATTERN = re.compile(r"(^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$)")  # Lexer's EMAIL_REGEX


def normal_email(value: Any) -> str:
    """Lexer's email validators: lower-cased, stripped, then matched."""
    email = as_str(value).lower().strip()
    if not EMAIL_PATTERN.match(email):
        raise Refused("must be an email address")
    return email


# -- kinds -----------------------------------------------------------------------------------------

class Kind:
    """What a value may be. Subclasses give the checker, the schema, the CSV typing and the rules."""

    def compile(self) -> Checker:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def csv_value(self, text: str) -> Any:
        """A CSV cell (never empty) as the JSON value to validate and store: converted when it
        converts, else left as text for the checker to refuse with its message."""
        return text

    def column(self, path: list[str]) -> Kind | None:
        """The kind a dotted CSV header below this one holds (path empty: this kind), or None."""
        return self if not path else None

    def rules(self, path: str) -> Iterable[str]:
        return ()

    def missing_columns(self, prefix: str, columns: set[str]) -> list[str]:
        """Columns a CSV header lacks for this required value, given the headers below `prefix`."""
        return [] if prefix in columns else [prefix]


class _Convert(Kind):
    """A scalar checked by one conversion function (and optional bounds on its result)."""

    convert: Callable[[Any], Any]
    exact_type: type | tuple = ()
    schema: dict[str, Any] = {}

    def compile(self) -> Checker:
        convert, exact, bounds = type(self).convert, self.exact_type, self._bounds()

        def check(value):
            if type(value) is exact and bounds is None:
                return None
            try:
                converted = convert(value)
            except Refused as refused:
                return _fail(str(refused))
            return None if bounds is None else bounds(converted)

        return check

    def _bounds(self):
        return None

    def json_schema(self) -> dict[str, Any]:
        return dict(self.schema)


class Str(_Convert):
    convert = staticmethod(as_str)
    exact_type = str
    schema = {"type": "string"}

    def __init__(self, min_length: int = 0):
        self.min_length = min_length

    def _bounds(self):
        if not self.min_length:
            return None
        least = self.min_length
        return lambda text: None if len(text) >= least else _fail("must not be empty" if least == 1
                                                                  else f"must be at least {least} characters long")

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", **({"minLength": self.min_length} if self.min_length else {})}

    def rules(self, path: str) -> Iterable[str]:
        if self.min_length:
            yield f"`{path}` not empty"


class Email(Kind):
    """A string that Lexer lower-cases, strips and matches to its email pattern. `blank_ok`: an empty
    string is taken as is (customer_record's optional email only checks a non-empty value)."""

    def __init__(self, blank_ok: bool = False):
        self.blank_ok = blank_ok

    def compile(self) -> Checker:
        blank_ok = self.blank_ok

        def check(value):
            try:
                if blank_ok and as_str(value) == "":
                    return None
                normal_email(value)
            except Refused as refused:
                return _fail(str(refused))
            return None

        return check

    def json_schema(self) -> dict[str, Any]:
        pattern = EMAIL_PATTERN.pattern
        return {"type": "string", "pattern": f"^$|{pattern}" if self.blank_ok else pattern}

    def rules(self, path: str) -> Iterable[str]:
        yield f"`{path}` an email address (lower-cased and stripped first)"


class _Bounded(_Convert):
    _OPS = {"ge": ("≥", lambda v, b: v >= b, "minimum"), "gt": (">", lambda v, b: v > b, "exclusiveMinimum"),
            "le": ("≤", lambda v, b: v <= b, "maximum"), "lt": ("<", lambda v, b: v < b, "exclusiveMaximum")}

    def __init__(self, **bounds: float):
        unknown = set(bounds) - set(self._OPS)
        if unknown:
            raise ValueError(f"unknown bounds {unknown}")
        self.bounds = bounds

    def _bounds(self):
        if not self.bounds:
            return None
        tests = [(self._OPS[name][1], limit, f"must be {self._OPS[name][0]} {limit:g}")
                 for name, limit in self.bounds.items()]

        def check(number):
            for holds, limit, message in tests:
                if not holds(number, limit):  # NaN holds no bound
                    return _fail(message)
            return None

        return check

    def json_schema(self) -> dict[str, Any]:
        schema = dict(self.schema)
        schema.update({self._OPS[name][2]: limit for name, limit in self.bounds.items()})
        return schema

    def rules(self, path: str) -> Iterable[str]:
        if self.bounds:
            yield f"`{path}` " + " and ".join(f"{self._OPS[n][0]} {v:g}" for n, v in self.bounds.items())


_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")


class Float(_Bounded):
    convert = staticmethod(as_float)
    exact_type = float
    schema = {"type": "number"}

    def csv_value(self, text: str) -> Any:
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            return text  # "nan", "inf": JSON has no such number; the checker takes the text
        return int(text) if _INTEGER_TEXT.match(text.strip()) else number


class Int(_Bounded):
    convert = staticmethod(as_int)
    exact_type = int
    schema = {"type": "integer"}

    def csv_value(self, text: str) -> Any:
        try:
            return as_int(text)
        except Refused:
            return text


class Bool(_Convert):
    convert = staticmethod(as_bool)
    exact_type = bool
    schema = {"type": "boolean"}

    def csv_value(self, text: str) -> Any:
        try:
            return as_bool(text)
        except Refused:
            return text


class DateTime(_Convert):
    convert = staticmethod(as_datetime)
    schema = {"type": "string", "format": "date-time"}


class Date(_Convert):
    convert = staticmethod(as_date)
    schema = {"type": "string", "format": "date"}


class HttpUrl(Kind):
    def compile(self) -> Checker:
        def check(value):
            rule = check_http_url(value)
            return None if rule is None else _fail(rule)

        return check

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                "maxLength": MAX_URL_LENGTH}

    def rules(self, path: str) -> Iterable[str]:
        yield f"`{path}` http(s) URLs with a top-level domain"


class Enum(Kind):
    def __init__(self, *values: str):
        self.values = values

    def compile(self) -> Checker:
        allowed = frozenset(self.values)
        message = "must be one of " + ", ".join(json.dumps(value) for value in self.values)

        def check(value):
            if isinstance(value, str) and value in allowed:
                return None
            return _fail(NOT_NULL if value is None else message)

        return check

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}

    def rules(self, path: str) -> Iterable[str]:
        yield f"`{path}` one of " + ", ".join(f"`{value}`" for value in self.values)


class AnyValue(Kind):
    def compile(self) -> Checker:
        return lambda value: None

    def json_schema(self) -> dict[str, Any]:
        return {}

    def column(self, path: list[str]) -> Kind | None:
        return self  # free-form: any dotted header below builds nested objects


class _Container(Kind):
    def csv_value(self, text: str) -> Any:
        if text.lstrip()[:1] in ("[", "{"):  # arrays and objects travel in a CSV cell as JSON
            try:
                return json.loads(text)
            except ValueError:
                pass
        return text


class ListOf(_Container):
    def __init__(self, item: Kind):
        self.item = item

    def compile(self) -> Checker:
        check_item = self.item.compile()

        def check(value):
            if type(value) is not list:
                return _fail(NOT_NULL if value is None else "must be an array")
            problems = None
            for index, item in enumerate(value):
                found = check_item(item)
                if found:
                    problems = (problems or []) + [((index, *path), message) for path, message in found]
            return problems

        return check

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.json_schema()}

    def rules(self, path: str) -> Iterable[str]:
        return self.item.rules(f"{path}[]")


class DictOf(_Container):
    """An object with any keys (pydantic's Dict[str, X]): its values are each a `value`."""

    def __init__(self, value: Kind):
        self.value = value

    def compile(self) -> Checker:
        check_value = self.value.compile()
        free = isinstance(self.value, AnyValue)

        def check(value):
            if type(value) is not dict:
                return _fail(NOT_NULL if value is None else "must be an object")
            if free:
                return None
            problems = None
            for key, item in value.items():
                found = check_value(item)
                if found:
                    problems = (problems or []) + [((key, *path), message) for path, message in found]
            return problems

        return check

    def json_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": self.value.json_schema()}

    def column(self, path: list[str]) -> Kind | None:
        return self if not path else self.value.column(path[1:])


@dataclass(frozen=True)
class Field:
    """One field of a model, named as in the JSON. pydantic's Optional[X] is `nullable` and never
    required; a field with a default is not required either."""

    name: str
    kind: Kind
    required: bool = False
    nullable: bool = True
    doc: str = ""
    default: Any = None  # what an absent field means (the typed accept path decodes it so)


def required(name: str, kind: Kind, doc: str = "") -> Field:
    return Field(name, kind, required=True, nullable=False, doc=doc)


def optional(name: str, kind: Kind, doc: str = "") -> Field:
    return Field(name, kind, doc=doc)


def defaulted(name: str, kind: Kind, default: Any, nullable: bool = False, doc: str = "") -> Field:
    """Not required: absent means `default` (not null unless `nullable`)."""
    return Field(name, kind, required=False, nullable=nullable, doc=doc or f"default {default}", default=default)


class Rule:
    """A check across a model's fields (a pydantic root validator), run once the fields are good."""

    def check(self, record: dict) -> Problems | None:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    text = ""


class Model(_Container):
    """A pydantic model: named fields; other keys ignored (kept as sent), or refused with `forbid`."""

    def __init__(self, *fields: Field, forbid_extra: str = "", rule: Rule | None = None, doc: str = ""):
        """forbid_extra: when set, other keys are refused with this message."""
        self.fields = fields
        self.by_name = {f.name: f for f in fields}
        self.forbid_extra = forbid_extra
        self.rule = rule
        self.doc = doc

    @property
    def required_names(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def compile(self) -> Checker:
        plan = [(f.name, f.kind.compile(), f.required, f.nullable) for f in self.fields]
        names = frozenset(self.by_name)
        forbid, rule = self.forbid_extra, self.rule

        def check(value):
            if type(value) is not dict:
                return _fail(NOT_NULL if value is None else "must be an object")
            problems = None
            get = value.get
            for name, check_field, is_required, nullable in plan:
                item = get(name, _ABSENT)
                if item is _ABSENT:
                    if is_required:
                        problems = (problems or []) + [((name,), "is required")]
                    continue
                if item is None:
                    if not nullable:
                        problems = (problems or []) + [((name,), NOT_NULL)]
                    continue
                found = check_field(item)
                if found:
                    problems = (problems or []) + [((name, *path), message) for path, message in found]
            if forbid and not names.issuperset(value):
                problems = (problems or []) + [((extra,), forbid)
                                               for extra in value if extra not in names]
            if problems is None and rule is not None:
                return rule.check(value)
            return problems

        return check

    def json_schema(self) -> dict[str, Any]:
        properties = {}
        for f in self.fields:
            fragment = f.kind.json_schema()
            if f.nullable:
                fragment = _nullable(fragment)
            if f.doc:
                fragment = {**fragment, "description": f.doc}
            properties[f.name] = fragment
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if self.required_names:
            schema["required"] = self.required_names
        if self.forbid_extra:
            schema["additionalProperties"] = False
        if self.rule is not None:
            schema["allOf"] = [self.rule.json_schema()]
        if self.doc:
            schema["description"] = self.doc
        return schema

    def column(self, path: list[str]) -> Kind | None:
        if not path:
            return self
        named = self.by_name.get(path[0])
        if named is None:  # another field: Lexer ignores it, we keep it (as text); a link refuses it
            return None if self.forbid_extra else _EXTRA
        return named.kind.column(path[1:])

    def rules(self, path: str) -> Iterable[str]:
        for f in self.fields:
            yield from f.kind.rules(f"{path}.{f.name}" if path else f.name)
        if self.rule is not None:
            yield self.rule.text

    def missing_columns(self, prefix: str, columns: set[str]) -> list[str]:
        if prefix in columns:  # one column holding the whole object as JSON
            return []
        missing = []
        for f in self.fields:
            if f.required:
                missing.extend(f.kind.missing_columns(f"{prefix}.{f.name}" if prefix else f.name, columns))
        return missing


_ABSENT = object()
_EXTRA = AnyValue()


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    if not schema:
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


class OneOf(_Container):
    """A pydantic Union of models that each forbid other fields (Lexer's link): the value must be
    exactly one of the variants. Their field sets differ, so at most one can fit a value's keys and
    trying them in order (as pydantic does) is the same as picking the one whose fields fit."""

    def __init__(self, *variants: tuple[str, Model], what: str = "value"):
        self.variants = variants
        self.what = what

    def compile(self) -> Checker:
        compiled = [(variant.compile(), frozenset(variant.by_name), frozenset(variant.required_names))
                    for _, variant in self.variants]
        # The fields that name a variant: required in it and allowed in no other (system_name is not).
        names_variant = {}
        for index, (_, _allowed, needed) in enumerate(compiled):
            others = set().union(*(other for i, (_, other, _) in enumerate(compiled) if i != index))
            names_variant.update(dict.fromkeys(needed - others, index))
        labels = [label for label, _ in self.variants]
        first_fields = [variant.required_names[0] for _, variant in self.variants]
        refusal = f"must hold one identifier: {'; '.join(labels)}"
        what = self.what

        def check(value):
            if type(value) is not dict:
                return _fail(NOT_NULL if value is None else refusal)
            for check_variant, allowed, needed in compiled:
                if allowed.issuperset(value) and needed.issubset(value):
                    return check_variant(value)
            named = sorted({names_variant[name] for name in value if name in names_variant})
            if len(named) > 1:
                both = " and ".join(first_fields[index] for index in named)
                return _fail(f"holds {both}: a {what} holds exactly one identifier")
            if not named:
                fitting = [index for index, (_, allowed, _) in enumerate(compiled) if allowed.issuperset(value)]
                if len(fitting) != 1:
                    return _fail(refusal)
                named = fitting
            return compiled[named[0]][0](value)  # that variant's own problems: a field missing or extra

        return check

    def json_schema(self) -> dict[str, Any]:
        return {"oneOf": [{**variant.json_schema(), "title": label} for label, variant in self.variants]}

    def column(self, path: list[str]) -> Kind | None:
        if not path:
            return self  # a whole link as JSON in one cell
        for _, variant in self.variants:
            found = variant.column(path)
            if found is not None:
                return found
        return None

    def rules(self, path: str) -> Iterable[str]:
        yield f"`{path}` holds exactly one identifier"

    def missing_columns(self, prefix: str, columns: set[str]) -> list[str]:
        if prefix in columns:
            return []
        for _, variant in self.variants:
            if not variant.missing_columns(prefix, columns):
                return []
        return [f"{prefix} (one of: " + "; ".join(
            " + ".join(f"{prefix}.{name}" for name in variant.required_names) for _, variant in self.variants) + ")"]


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(record)"


MAX_PROBLEMS_SHOWN = 10


def describe_problems(problems: Problems) -> str:
    shown = [f"{format_path(path)}: {message}" for path, message in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        shown.append(f"and {len(problems) - MAX_PROBLEMS_SHOWN} more")
    return "; ".join(shown)
