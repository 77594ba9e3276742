"""Our checker against pydantic 1.10 itself, on generated values: a differential property test.

Each Lexer type's declaration is turned into a pydantic model (built from our declarations, not copied
from Lexer's), and both judge the same generated records: the verdicts must agree. The pydantic is the
`pydantic.v1` that ships in pydantic 2 (1.10.27; Lexer pins 1.10.19, whose validators are the same;
tools/compare_with_lexer.py can run Lexer's own models on 1.10.19). Generated values stay inside what
we deliberately refuse differently (docs/record_types.md): objects are JSON objects or values no
`dict()` takes, and everything is JSON (finite floats, 64-bit integers).
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime
from typing import Any, Optional, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import v1 as pydantic

from ingest import record_types
from ingest.record_types import lexer, model

# -- our declarations as pydantic models ------------------------------------------------------------

_names = iter(range(10**6))


def _email_type(blank_ok: bool):
    class LexerEmail(str):
        @classmethod
        def __get_validators__(cls):
            yield pydantic.validators.str_validator
            yield cls.check

        @classmethod
        def check(cls, value: str) -> str:
            if blank_ok and not value:
                return value
            value = value.lower().strip()
            if not re.match(model.EMAIL_PATTERN.pattern, value):
                raise ValueError("not an email")
            return value

    return LexerEmail


def pydantic_type(kind: model.Kind) -> Any:
    if isinstance(kind, model.Email):
        return _email_type(kind.blank_ok)
    if isinstance(kind, model.Str):
        return pydantic.constr(min_length=kind.min_length) if kind.min_length else str
    if isinstance(kind, model.Float):
        return pydantic.confloat(**kind.bounds) if kind.bounds else float
    if isinstance(kind, model.Int):
        return pydantic.conint(**kind.bounds) if kind.bounds else int
    if isinstance(kind, model.Bool):
        return bool
    if isinstance(kind, model.DateTime):
        return datetime
    if isinstance(kind, model.Date):
        return date
    if isinstance(kind, model.HttpUrl):
        return pydantic.HttpUrl
    if isinstance(kind, model.Enum):
        return enum.Enum(f"E{next(_names)}", {value: value for value in kind.values}, type=str)
    if isinstance(kind, model.AnyValue):
        return Any
    if isinstance(kind, model.ListOf):
        return list[pydantic_type(kind.item)]
    if isinstance(kind, model.DictOf):
        return dict[str, pydantic_type(kind.value)]
    if isinstance(kind, model.OneOf):
        return Union[tuple(pydantic_model(variant) for _, variant in kind.variants)]  # noqa: UP007 (built at run time)
    if isinstance(kind, model.Model):
        return pydantic_model(kind)
    raise TypeError(kind)


def pydantic_model(declared: model.Model):
    class Config:
        extra = pydantic.Extra.forbid if declared.forbid_extra else pydantic.Extra.ignore

    fields = {}
    for field in declared.fields:
        annotated = pydantic_type(field.kind)
        if field.nullable:
            annotated = Optional[annotated]  # noqa: UP045 (a typing object built at run time, as the pydantic model had it)
        default = ... if field.required else (None if field.nullable else "product_id")  # the one default
        fields[f"f_{field.name}"] = (annotated, pydantic.Field(default, alias=field.name))
    validators = {}
    rule = declared.rule
    if rule is not None:
        def reference_given(cls, values):
            named = values.get(f"f_{rule.selector}")
            if named is None or values.get(f"f_{getattr(named, 'value', named)}") is None:
                raise ValueError("the referenced field is missing")
            return values

        validators["reference_given"] = pydantic.root_validator(allow_reuse=True)(reference_given)
    return pydantic.create_model(f"M{next(_names)}", __config__=Config, __validators__=validators, **fields)


# -- generated values -----------------------------------------------------------------------------

FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SMALL_INT = st.integers(min_value=-5, max_value=5)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), INT64, FINITE, st.text(max_size=6))
NOT_AN_OBJECT = st.one_of(st.booleans(), INT64, FINITE, st.text(min_size=1, max_size=6),
                          st.lists(INT64, min_size=1, max_size=2))  # nothing dict() takes
NUMERIC_TEXT = st.sampled_from(["1.5", " 2 ", "1_000", "1e3", "nan", "inf", "-inf", "+4", "0", "-1", "2.0",
                                "0x10", "", "abc", "1 000", "٣", "1e400"])


def _digits(low: int, high: int, width: tuple[int, ...] = (1, 2)) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(low, high), st.sampled_from(width)).map(lambda pair: str(pair[0]).zfill(pair[1]))


DATE_TEXT = st.builds(lambda y, m, d: f"{y}-{m}-{d}", _digits(0, 2100, (4,)), _digits(0, 14), _digits(0, 33))
TIME_TEXT = st.builds(
    lambda day, sep, h, mi, sec, frac, zone, tail: f"{day}{sep}{h}:{mi}{sec}{frac if sec else ''}{zone}{tail}",
    DATE_TEXT, st.sampled_from(["T", " ", "t", "_"]), _digits(0, 25), _digits(0, 61),
    st.one_of(st.just(""), _digits(0, 61).map(lambda s: ":" + s)),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=14).map(lambda s: "." + s)),
    st.one_of(st.sampled_from(["", "Z", "z"]),
              st.builds(lambda sign, hh, sep, mm: f"{sign}{hh}{sep}{mm}", st.sampled_from("+-"), _digits(0, 25, (2,)),
                        st.sampled_from(["", ":"]), st.sampled_from(["", "00", "30", "59", "99"]))),
    st.sampled_from(["", "", "", "\n", " "]),
)
UNIX = st.one_of(INT64, FINITE, st.integers(-(10**13), 10**13), NUMERIC_TEXT, st.booleans())
URL = st.builds(
    lambda pad, scheme, user, host, port, path: f"{pad}{scheme}{user}{host}{port}{path}{pad}",
    st.sampled_from(["", " "]), st.sampled_from(["https://", "http://", "HTTP://", "ftp://", "", "https:/"]),
    st.sampled_from(["", "user:pw@", "a@"]),
    st.sampled_from(["example.com", "shop.example.com.", "localhost", "127.0.0.1", "999.1.1.1", "[::1]",
                     "bücher.example", "xn--bcher-kva.example", "a_b.co", "-bad.com", "", "ex ample.com", "x.c",
                     "x." + "a" * 64, "x." + "a" * 63, "b" * 64 + ".com", "münchen.de", "example.museum"]),
    st.sampled_from(["", ":80", ":65535", ":65536", ":", ":x"]),
    st.sampled_from(["", "/", "/a.jpg", "/a b.jpg", "/p?q=1#f", "?q", "#f"]),
)
EMAILISH = st.builds(lambda pad, local, domain, tld: f"{pad}{local}@{domain}.{tld}{pad}",
                     st.sampled_from(["", " ", "\t"]), st.sampled_from(["ana", "Ana.Smith", "a+b", "a b", "", "é"]),
                     st.sampled_from(["example", "Ex-ample", "ex_ample", "", "K\u212aelvin"]),
                     st.sampled_from(["com", "CO", "c", "com.", "co-m"]))
BOOL_WORDS = st.sampled_from(["true", "False", "YES", "no", "On", "off", "t", "F", "y", "N", "1", "0", " true", "2",
                              "", "maybe"])


def values(kind: model.Kind) -> st.SearchStrategy:
    """Values for one kind: right ones, convertible ones and wrong ones."""
    if isinstance(kind, model.Email):
        return st.one_of(EMAILISH, st.just(""), JSON_SCALAR)
    if isinstance(kind, model.Str):
        return st.one_of(st.text(max_size=5), JSON_SCALAR,
                         st.lists(INT64, max_size=1), st.dictionaries(st.text(max_size=2), INT64, max_size=1))
    if isinstance(kind, (model.Float, model.Int)):
        bounds = [st.just(limit + delta) for limit in kind.bounds.values() for delta in (-1, -0.5, 0, 0.5, 1)]
        return st.one_of(FINITE, INT64, SMALL_INT, st.floats(-3, 3), NUMERIC_TEXT, st.booleans(), st.none(),
                         st.lists(INT64, max_size=1), *bounds)
    if isinstance(kind, model.Bool):
        return st.one_of(st.booleans(), BOOL_WORDS, st.sampled_from([0, 1, 2, -1, 0.0, 1.0, 0.5]), st.none(),
                         st.lists(st.booleans(), max_size=1))
    if isinstance(kind, model.DateTime):
        return st.one_of(TIME_TEXT, DATE_TEXT, UNIX, st.text(max_size=5), st.none(), st.lists(INT64, max_size=1))
    if isinstance(kind, model.Date):
        return st.one_of(DATE_TEXT, TIME_TEXT, UNIX, st.text(max_size=5), st.none())
    if isinstance(kind, model.HttpUrl):
        return st.one_of(URL, JSON_SCALAR)
    if isinstance(kind, model.Enum):
        return st.one_of(st.sampled_from(kind.values), st.sampled_from(kind.values).map(str.upper), JSON_SCALAR)
    if isinstance(kind, model.AnyValue):
        return st.one_of(JSON_SCALAR, st.lists(JSON_SCALAR, max_size=2))
    if isinstance(kind, model.ListOf):
        return st.one_of(st.lists(values(kind.item), max_size=3),
                         NOT_AN_OBJECT.filter(lambda v: not isinstance(v, list)), st.none())
    if isinstance(kind, model.DictOf):
        return st.one_of(st.dictionaries(st.text(max_size=3), values(kind.value), max_size=3), NOT_AN_OBJECT, st.none())
    if isinstance(kind, model.OneOf):
        every_field = {f.name: values(f.kind) for _, variant in kind.variants for f in variant.fields}
        mixed = st.fixed_dictionaries({}, optional=every_field)
        return st.one_of(*(objects(variant) for _, variant in kind.variants), mixed, NOT_AN_OBJECT, st.none())
    if isinstance(kind, model.Model):
        return st.one_of(objects(kind), objects(kind), NOT_AN_OBJECT, st.none())
    raise TypeError(kind)


def objects(declared: model.Model) -> st.SearchStrategy[dict]:
    """Objects of a model: each field present or not (required ones mostly present), now and then
    an undeclared field."""
    required = {f.name: values(f.kind) for f in declared.fields if f.required}
    optional = {f.name: values(f.kind) for f in declared.fields if not f.required}
    extra = st.dictionaries(st.sampled_from(["extra", "coordinates", "from_"]), JSON_SCALAR, max_size=1)
    return st.builds(lambda present, missing, more: {**{k: v for k, v in present.items() if k not in missing}, **more},
                     st.fixed_dictionaries(required, optional=optional),
                     st.sets(st.sampled_from(sorted(required) or [""]), max_size=1),  # at times one left out
                     extra)


def _pydantic_accepts(py_model, record: dict) -> bool:
    try:
        py_model.parse_obj(record)
    except pydantic.ValidationError:
        return False
    return True


@pytest.mark.parametrize("declared", lexer.TYPES, ids=lambda declared: declared.name)
def test_our_verdicts_are_pydantics(declared):
    py_model = pydantic_model(declared.model)
    judge = record_types.get(declared.name).judge

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(objects(declared.model))
    def same_verdict(record):
        ours = judge(record)
        assert (ours is None) == _pydantic_accepts(py_model, record), ours

    same_verdict()


@pytest.mark.parametrize("kind", [model.DateTime(), model.Date(), model.HttpUrl(), model.Email(),
                                  model.Email(blank_ok=True),
                                  model.Float(ge=-90, lt=90), model.Int(ge=1), model.Int(le=-1), model.Bool(),
                                  model.Str(min_length=1), model.Float(ge=0)],
                         ids=lambda kind: type(kind).__name__ + str(getattr(kind, "bounds", "")))
def test_each_kind_alone_agrees_with_pydantic(kind):
    check = kind.compile()
    py_model = pydantic.create_model(f"One{next(_names)}", value=(pydantic_type(kind), ...))

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(values(kind).filter(lambda value: value is not None))
    def same_verdict(value):
        assert (check(value) is None) == _pydantic_accepts(py_model, {"value": value}), value

    same_verdict()
