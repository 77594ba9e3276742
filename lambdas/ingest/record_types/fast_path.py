"""The typed accept path: one msgspec decoder per declared type, in front of the exact checker.

The exact checker (model.py) is the authority: it decides every line this path does not accept and
words every message. This path only accepts, and only lines the authority accepts, with the same key,
for about the cost of parsing the line. It is generated from the same declarations:

* each Model becomes a Struct whose fields take the *canonical* JSON form only: a string where a
  string is declared, a JSON number where a number is (an integer, within 64 bits, where an integer
  is), true/false, an enum's exact strings, objects and arrays as declared, and free-form values
  (`custom_fields`) as plain JSON nested at most FREE_FORM_LEVELS deep. pydantic's conversions (5 as
  a string, "1.5" as a number, "yes" as a boolean) are left to the authority;
* a date-time is a string `YYYY-MM-DDTHH:MM:SS[Z]` that is a real moment (other forms of the
  authority's grammar through a regex of a strict subset of it) or unix seconds; a date is msgspec's
  `YYYY-MM-DD`, a real day (a subset of the authority's `YYYY-M-D`) or unix seconds; an email is a
  subset of Lexer's pattern that lower-casing and stripping cannot change;
* a link is decoded as a {name: string} object and accepted when its names are exactly one link
  model's and each value passes that model's field; URLs go through the authority's own URL check;
  product's rule is read off the decoded fields.

Where msgspec is laxer than orjson (the authority's parser), this path closes the gap
(tests/unit/test_fast_path.py pins each): msgspec skips a value it does not decode without checking
its UTF-8, number range or depth, so the Structs first refuse undeclared fields, and a line that has
some is parsed by orjson before Structs that ignore them decode it; the line's UTF-8 is checked here;
and msgspec decodes integers of any size, so integers are bounded to 64 bits.

The checks msgspec cannot make run in one generated function per type: a line costs its decoding
plus a few Python operations, which is what makes this path worth having.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import combinations, permutations
from typing import Annotated, Any, Literal, Union
from urllib.parse import quote

import msgspec
import orjson

from ingest.record_types import keys as record_keys
from ingest.record_types import model
from ingest.record_types.keys import MAX_KEY_BYTES
from ingest.record_types.lexer import ReferenceRequired

_INT64 = {"ge": -(2**63), "le": 2**63 - 1}  # msgspec decodes any size; orjson not (floats, then refusal)

# Free-form values deeper than this go to the authority: a bounded type cannot be too deep for orjson.
FREE_FORM_LEVELS = 6

# Date-times other than YYYY-MM-DDTHH:MM:SS[Z]: a subset of the authority's grammar whose every match
# is a real moment (zero-padded, `T`, up to 6 fraction digits, `Z` or an offset under 24 h).
_YEAR = r"(?!0000)[0-9]{4}"  # year 0 does not exist
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"  # days every month has
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"  # every month but February
    r"|(?:0[13578]|1[02])-31)"  # the months of 31 days
)
DATETIME_PATTERN = re.compile(
    rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
# Lexer's email pattern on ASCII letters, digits and .+-_ only, nothing to strip: lower-casing keeps a
# match a match, so the authority (which lower-cases and strips first) matches it too.
EMAIL_PATTERN = re.compile(r"[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9.-]+")
_email_match = EMAIL_PATTERN.fullmatch

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class _Test:
    """What a decoded (not null) value `part` must pass beyond its msgspec type, as lines of Python
    that run `{fail}` when it does not; `{name}` in them is functions[name]. Generated inline, the
    checks of a line cost a few operations each, not a call each."""

    lines: tuple[str, ...]
    functions: dict[str, Callable]


def _expression(expression: str, **functions: Callable) -> _Test:
    """A test that passes when `expression` is true."""
    return _Test((f"if not ({expression}):", "    {fail}"), functions)


def _call(function: Check) -> _Test:
    return _expression("{check}(part)", check=function)


# A date-time: unix seconds (any JSON number), or a string. The common form's layout is pinned here
# and datetime's C parser checks the calendar, hours and seconds; other forms go through the regex.
_DATETIME_TEST = _Test((
    "if type(part) is str:",
    '    if part[4:17:3] == "--T::" and (len(part) == 19 or (len(part) == 20 and part[19] == "Z")):',
    "        try:",
    "            {from_iso}(part)",
    "        except ValueError:",
    "            {fail}",
    "    elif {datetime_match}(part) is None:",
    "        {fail}",
), {"from_iso": datetime.fromisoformat, "datetime_match": DATETIME_PATTERN.fullmatch})
_EMAIL_TEST = _expression("{email_match}(part) is not None", email_match=_email_match)
_EMAIL_OR_BLANK_TEST = _expression('part == "" or {email_match}(part) is not None', email_match=_email_match)


def _generated(name: str, source: list[str], functions: dict[str, Any]) -> Callable:
    namespace = dict(functions)
    exec("\n".join(source), namespace)  # noqa: S102 - source generated from our own declarations
    return namespace[name]


def _generated_test(test: _Test) -> Check:
    source, functions = _test_source(test, 0, "return False", "    ")
    return _generated("passes", ["def passes(part):", *source, "    return True"], functions)


def _test_source(test: _Test, index: int, fail: str, indent: str) -> tuple[list[str], dict[str, Callable]]:
    names = {name: f"{name}_{index}" for name in test.functions}
    source = [indent + line.format(fail=fail, **names) for line in test.lines]
    return source, {names[name]: function for name, function in test.functions.items()}


# The date-time test on a string alone: True when the typed path takes it.
canonical_datetime = _generated_test(_DATETIME_TEST)


def _field_checks(checks: list[tuple[str | None, _Test, bool]], fail: str) -> tuple[list[str], dict[str, Any]]:
    """Source testing each (attribute, test, always) of a Struct `value` in turn, running `fail` at
    the first that fails. always: the field is never null (required); else null passes."""
    source, functions = [], {}
    for index, (attribute, test, always) in enumerate(checks):
        source.append(f"    part = value.{attribute}" if attribute else "    part = value")
        if always:
            lines, named = _test_source(test, index, fail, "    ")
        else:
            lines, named = _test_source(test, index, fail, "        ")
            source.append("    if part is not None:")
        source.extend(lines)
        functions.update(named)
    return source, functions


# -- a link: {name: string} ---------------------------------------------------------------------------

def _text_test(kind: model.Kind) -> Check | None:
    """The check of a link field's string value (true when it passes), None when any string passes."""
    if isinstance(kind, model.Email):
        return (lambda text: text == "" or _email_match(text) is not None) if kind.blank_ok else _email_match
    if isinstance(kind, model.Enum):
        return frozenset(kind.values).__contains__
    if type(kind) is model.Str:
        least = kind.min_length
        return (lambda text: len(text) >= least) if least else None
    raise TypeError(f"no typed form for a link field of kind {kind!r}")


def _link_key_builders() -> dict[tuple[str, ...], Callable[[dict[str, str]], str]]:
    """record_keys.link_key for each link shape (its names, sorted), without its search for the shape.
    An email in the canonical form has nothing to strip."""
    systems: dict[str, str] = {}  # a file names few systems: each is percent-encoded once

    def encoded(system: str) -> str:
        text = systems.get(system)
        if text is None:
            text = quote(system, safe="")  # as keys.py encodes a qualifier
            if len(systems) < 1024:
                systems[system] = text
        return text

    lowered = ("email", "email_sha256", "email_md5")

    def deprecated(link: dict[str, str]) -> str:
        kind, value = link["link_type"], link["link_value"]
        if kind in lowered:
            value = value.lower().strip()
        id_type = link.get("id_type", "default")
        return f"{kind}:{value}" if id_type == "default" else f"{kind}@{encoded(id_type)}:{value}"

    return {
        ("email",): lambda link: "email:" + link["email"].lower(),
        ("email_sha256",): lambda link: "email_sha256:" + link["email_sha256"].lower().strip(),
        ("email_md5",): lambda link: "email_md5:" + link["email_md5"].lower().strip(),
        ("mobile",): lambda link: "mobile:" + link["mobile"],
        ("customer_id",): lambda link: "customer_id:" + link["customer_id"],
        ("customer_id", "system_name"):
            lambda link: f"customer_id@{encoded(link['system_name'])}:{link['customer_id']}",
        ("external_id", "system_name"):
            lambda link: f"external_id@{encoded(link['system_name'])}:{link['external_id']}",
        ("link_type", "link_value"): deprecated,
        ("id_type", "link_type", "link_value"): deprecated,
    }


LinkKeyer = Callable[[dict[str, str]], "str | None"]


def _keyer(tests: tuple[tuple[str, Check], ...], build: Callable[[dict[str, str]], str]) -> LinkKeyer:
    """The key of a link of one shape, or None when a field fails its test: the builder alone when
    no field has a test (a mobile, a customer id), so the commonest links cost one call."""
    if not tests:
        return build
    if len(tests) == 1:
        ((name, test),) = tests
        return lambda link: build(link) if test(link[name]) else None

    def keyed(link: dict[str, str]) -> str | None:
        for field, passes in tests:
            if not passes(link[field]):
                return None
        return build(link)

    return keyed


class _Links:
    """A link decoded as {name: string}: accepted when its names, in any order, are exactly one link
    model's (its required ones and any of its optional ones) and each value passes that model's
    field. The authority judges a link by the first model whose names fit; only one can fit here,
    so it is the same one. Its shape (the names in the order sent) picks one keyer, which tests
    the values and builds the key in one call."""

    def __init__(self, one_of: model.OneOf):
        builders = _link_key_builders()
        self.keyers: dict[tuple[str, ...], LinkKeyer] = {}
        # For a link that is not the key, the values' tests alone: None when any values pass.
        self.checks: dict[tuple[str, ...], Callable[[dict[str, str]], bool] | None] = {}
        for _, variant in one_of.variants:
            needed = [field for field in variant.fields if field.required]
            optional = [field for field in variant.fields if not field.required]
            for count in range(len(optional) + 1):
                for extra in combinations(optional, count):
                    fields = needed + list(extra)
                    tests = tuple((field.name, test) for field in fields
                                  if (test := _text_test(field.kind)) is not None)
                    keyer = _keyer(tests, builders[tuple(sorted(field.name for field in fields))])
                    check = None if not tests else _keyer(tests, lambda link: "")  # "" passes, None not
                    for names in permutations([field.name for field in fields]):
                        if names in self.keyers:
                            raise TypeError(f"two link models take the fields {names}")
                        self.keyers[names] = keyer
                        self.checks[names] = check

    def test(self) -> _Test:
        """The link test, inline: its shape is a link model's and its values pass their tests (most
        links, a customer id or a mobile, have none: no call at all)."""
        return _Test((
            "shape = tuple(part)",
            "if shape not in {link_checks}:",
            "    {fail}",
            "check = {link_checks}[shape]",
            "if check is not None and check(part) is None:",
            "    {fail}",
        ), {"link_checks": self.checks})

    def key(self, link: dict[str, str]) -> str | None:
        """The link's record key (as record_keys.link_key reads it), or None when it does not pass."""
        keyer = self.keyers.get(tuple(link))
        return None if keyer is None else keyer(link)


# -- declarations to Structs --------------------------------------------------------------------------

def _attribute(name: str) -> str:
    """The Struct attribute of a JSON field name (`from` is a keyword)."""
    return f"{name}_" if keyword.iskeyword(name) or not name.isidentifier() else name


def _number(number: type, bounds: dict[str, float]) -> Any:
    if number is int:  # within its declared bounds and within 64 bits
        bounds = dict(bounds)
        if "gt" not in bounds:
            bounds["ge"] = max(bounds.get("ge", _INT64["ge"]), _INT64["ge"])
        if "lt" not in bounds:
            bounds["le"] = min(bounds.get("le", _INT64["le"]), _INT64["le"])
    return Annotated[number, msgspec.Meta(**bounds)] if bounds else number


def _free_form(levels: int) -> Any:
    """Any JSON value nested at most `levels` deep, integers within 64 bits."""
    value = Union[str, _number(int, {}), float, bool, None]
    for _ in range(levels):
        value = Union[str, _number(int, {}), float, bool, None, list[value], dict[str, value]]
    return value


_FREE_FORM = _free_form(FREE_FORM_LEVELS)
_FREE_FORM_OBJECT = dict[str, _free_form(FREE_FORM_LEVELS - 1)]


def _each(test: _Test) -> Check:
    """True when every item passes the test."""
    lines, functions = _test_source(test, 0, "return False", "        ")
    return _generated("each", ["def each(items):", "    for part in items:", *lines, "    return True"], functions)


def _all_items(test: _Test) -> _Test:
    return _expression("{each}(part)", each=_each(test))


def _all_values(test: _Test) -> _Test:
    return _expression("{each}(part.values())", each=_each(test))


class _Builder:
    """Turns one declared Model into a Struct type, plus a test of what msgspec cannot check."""

    def __init__(self, type_name: str, undeclared_refused: bool = True):
        self.type_name = type_name
        self.undeclared_refused = undeclared_refused
        self.structs = 0

    def typed(self, kind: model.Kind) -> tuple[Any, _Test | None]:
        """(msgspec type of the kind's canonical form, the test of a decoded not-null value or None)."""
        if isinstance(kind, model.Email):
            return str, (_EMAIL_OR_BLANK_TEST if kind.blank_ok else _EMAIL_TEST)
        if isinstance(kind, model.Str):
            return (Annotated[str, msgspec.Meta(min_length=kind.min_length)] if kind.min_length else str), None
        if isinstance(kind, model.Float):
            return _number(float, kind.bounds), None
        if isinstance(kind, model.Int):
            return _number(int, kind.bounds), None
        if isinstance(kind, model.Bool):
            return bool, None
        if isinstance(kind, model.DateTime):
            return Union[str, _number(int, {}), float], _DATETIME_TEST
        if isinstance(kind, model.Date):
            return Union[date, _number(int, {}), float], None
        if isinstance(kind, model.Enum):
            return Literal[kind.values], None
        if isinstance(kind, model.HttpUrl):
            return str, _expression("{check_url}(part) is None", check_url=model.check_http_url)
        if isinstance(kind, model.AnyValue):
            return _FREE_FORM, None
        if isinstance(kind, model.ListOf):
            item, test = self.typed(kind.item)
            return list[item], (None if test is None else _all_items(test))
        if isinstance(kind, model.DictOf):
            if isinstance(kind.value, model.AnyValue):
                return _FREE_FORM_OBJECT, None
            value, test = self.typed(kind.value)
            return dict[str, value], (None if test is None else _all_values(test))
        if isinstance(kind, model.OneOf):
            # msgspec cannot decode an untagged union of objects; a link is a flat {name: string}.
            return dict[str, str], _Links(kind).test()
        if isinstance(kind, model.Model):
            struct, checks = self.struct(kind)
            if not checks:
                return struct, None
            source, functions = _field_checks(checks, "return False")
            return struct, _call(_generated("passes", ["def passes(value):", *source, "    return True"], functions))
        raise TypeError(f"no typed form for {kind!r}")

    def struct(self, declared: model.Model) -> tuple[type, list[tuple[str | None, _Test, bool]]]:
        """The Struct of a model and its field checks (attribute, test, always)."""
        if declared.forbid_extra:
            raise TypeError("a model that refuses other fields is typed only inside a OneOf")
        fields, checks = [], []
        for field in declared.fields:
            typed, test = self.typed(field.kind)
            attribute = _attribute(field.name)
            if test is not None:
                checks.append((attribute, test, field.required))
            if field.required:
                fields.append((attribute, typed, msgspec.field(name=field.name)))
            else:
                fields.append((attribute, Union[typed, None] if field.nullable else typed,
                               msgspec.field(default=field.default, name=field.name)))
        self.structs += 1
        struct = msgspec.defstruct(f"{self.type_name}_{self.structs}", fields, kw_only=True,
                                   forbid_unknown_fields=self.undeclared_refused, gc=False)
        if declared.rule is not None:
            checks.append((None, _call(_rule_check(declared.rule)), True))
        return struct, checks


def _rule_check(rule: model.Rule) -> Check:
    if not isinstance(rule, ReferenceRequired):
        raise TypeError(f"no typed form for the rule {rule!r}")
    selector = _attribute(rule.selector)
    attributes = {choice: _attribute(choice) for choice in rule.choices}
    return lambda value: getattr(value, attributes[getattr(value, selector)]) is not None  # the named field is given


# -- the line checker ---------------------------------------------------------------------------------

Verdict = tuple  # (problem, None) or (None, record key)
_UNDECLARED = "Object contains unknown field"  # how msgspec words a field a Struct does not declare


def line_checker(type_name: str, declared: model.Model, key: Any, authority: Callable[[bytes], Verdict],
                 authority_on_parsed: Callable[[Any], Verdict]) -> Callable[[bytes], Verdict]:
    """check(line) -> (None, key) when the typed path accepts the line, else the authority's verdict:
    authority(line), or authority_on_parsed(record) once the line is parsed. One generated function,
    so an accepted line costs one Python call."""
    return _generated_checker(type_name, declared, key, "return authority(line)", "return authority_on_parsed(record)",
                              "return None, key", {"authority": authority, "authority_on_parsed": authority_on_parsed})


def accepting(type_name: str, declared: model.Model, key: Any) -> Callable[[bytes], str | None]:
    """accept(line) -> the line's record key when the typed path accepts it, else None: the typed
    path alone (line_checker's, generated the same way), for tests and measurements."""
    return _generated_checker(type_name, declared, key, "return None", "return None", "return key", {})


def _generated_checker(type_name: str, declared: model.Model, key: Any, refuse: str, refuse_parsed: str,
                       accept: str, functions: dict[str, Any]) -> Callable:
    """The generated check. A line is decoded by Structs that refuse undeclared fields, because msgspec
    skips a value it does not decode without checking its UTF-8, number range or depth. When that is
    the only reason, orjson (the authority's parser) checks the whole line, and Structs that ignore
    undeclared fields decode it: the authority ignores them too."""
    struct, checks = _Builder(type_name).struct(declared)
    ignoring, _ = _Builder(type_name, undeclared_refused=False).struct(declared)
    functions = {**functions, "decode": msgspec.json.Decoder(struct).decode, "DecodeError": msgspec.DecodeError,
                 "decode_ignoring": msgspec.json.Decoder(ignoring).decode, "loads": orjson.loads,
                 "JSONDecodeError": orjson.JSONDecodeError, "utf8": _is_utf8, "UNDECLARED": _UNDECLARED}
    if isinstance(key, record_keys.FieldKey):
        field = declared.by_name[key.field]
        if not (field.required and type(field.kind) is model.Str):
            raise TypeError(f"{key.field}: a key the typed path reads must be a required string")
        key_source = f"    key = value.{_attribute(key.field)}"  # a str: as_str changes nothing
    elif isinstance(key, record_keys.LinkKey):
        # Reading the link's key judges the link too: its own check would be done twice.
        checks = [check for check in checks if check[0] != "link"]
        functions["link_keyer"] = _Links(declared.by_name["link"].kind).keyers.get
        key_source = "\n".join([
            "    link = value.link",
            "    keyer = link_keyer(tuple(link))",
            "    key = None if keyer is None else keyer(link)",  # None: `not key` below refuses it
        ])
    elif isinstance(key, record_keys.ReferenceKey):
        selector = _attribute(key.selector)
        functions["reference_key"] = (
            lambda value: f"{getattr(value, selector)}:{getattr(value, _attribute(getattr(value, selector)))}")
        key_source = "    key = reference_key(value)"
    else:
        raise TypeError(f"no typed key reader for {key!r}")

    def judged(fail: str) -> list[str]:
        """The checks and the key of a decoded `value`, running `fail` when the typed path cannot say."""
        check_source, check_functions = _field_checks(checks, fail)
        functions.update(check_functions)
        return [
            *check_source,
            key_source,
            # An empty key or one over DynamoDB's limit: the authority words the refusal (a str of n
            # characters is at most 4n bytes).
            f"    if not key or (len(key) > {MAX_KEY_BYTES // 4} and len(key.encode('utf-8')) > {MAX_KEY_BYTES}):",
            f"        {fail}",
            f"    {accept}",
        ]

    undeclared = [f"        {line}" for line in [
        "if not str(error).startswith(UNDECLARED):",  # not the canonical form: the authority decides
        f"    {refuse}",
        "try:",
        "    record = loads(line)",
        "except JSONDecodeError:",
        f"    {refuse}",
        "try:",
        "    value = decode_ignoring(line)",
        "except DecodeError:",
        f"    {refuse_parsed}",
        "return accept_ignoring(value, record)",
    ]]
    source = [
        "def check(line):",
        "    if not line.isascii() and not utf8(line):",  # orjson refuses bad UTF-8 anywhere; msgspec not
        f"        {refuse}",
        "    try:",
        "        value = decode(line)",
        "    except DecodeError as error:",
        *undeclared,
        *judged(refuse),
    ]
    functions["accept_ignoring"] = _generated("accept_ignoring", [
        "def accept_ignoring(value, record):", *judged(refuse_parsed)], dict(functions))
    return _generated("check", source, functions)


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
