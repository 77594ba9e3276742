"""The typed accept path (record_types/fast_path.py) against the exact checker it stands in front of.

The invariant: the typed path never accepts a line the exact checker (orjson + the declared model)
rejects, and for every line it accepts, its key is the exact checker's key; so `check_line` gives
every line the exact checker's verdict, message and key. And it does accept well-formed records,
or it would be no faster: the fixtures in canonical form and the benchmark's records.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.__main__ import customer_lines, purchase_lines
from ingest import record_types
from ingest.logic.load.record_limits import check_line
from ingest.record_types import fast_path, keys, lexer, model
from tests.unit.test_pydantic_rules import TIME_TEXT, objects, values

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lexer"
LEXER_TYPES = [declared.name for declared in lexer.TYPES]
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def typed_path(name: str):
    """The typed path alone: the line's key when it accepts the line, else None."""
    return fast_path.accepting(*record_types.get(name).typed_path)


def exact(name: str, line: bytes):
    return record_types.get(name).check_line_exactly(line)


def assert_agrees(name: str, line: bytes) -> bool:
    """The invariant for one line; True when the typed path took it."""
    authority = exact(name, line)
    key = typed_path(name)(line)
    if key is not None:
        assert authority == (None, key), line
    assert record_types.get(name).check_line(line) == authority, line
    return key is not None


# -- well-formed records take the typed path ---------------------------------------------------------

# Fixture lines the typed path leaves to the exact checker, and why: each needs one of pydantic's
# conversions.
NOT_CANONICAL = {
    ("customer_record", 3): "employee_flag is the string \"yes\"",
    ("product", 2): "price is the string \"24.95\"",
}


@pytest.mark.parametrize("name", LEXER_TYPES)
def test_fixture_records_take_the_typed_path_unless_they_need_a_conversion(name):
    # email_bounce's fixture (Lexer's own example) carries campaign_id, which email_bounce does not
    # declare: Lexer ignores it, and so does the typed path once orjson has checked the line.
    for number, line in enumerate((FIXTURES / f"{name}.ndjson").read_bytes().splitlines(), 1):
        took = assert_agrees(name, line)
        assert took == ((name, number) not in NOT_CANONICAL), (name, number)


@pytest.mark.parametrize(("name", "make"), [("purchase", purchase_lines), ("customer_record", customer_lines)])
def test_the_benchmarks_records_all_take_the_typed_path(name, make):
    for line in make(300):
        assert assert_agrees(name, line)


def test_the_fixture_cases_get_the_exact_checkers_verdicts_and_messages():
    taken = 0
    for path in sorted((FIXTURES / "cases").glob("*.ndjson")):
        for text in path.read_text(encoding="utf-8").splitlines():
            taken += assert_agrees(path.stem, orjson.dumps(json.loads(text)["record"]))
    assert taken >= 50  # not vacuous: 83 of the 180 accepted cases need no conversion and go the typed way


# -- generated records: the invariant ----------------------------------------------------------------

NEAR_BOUNDS = st.sampled_from([-180.0, -90.0, -0.0, 0.0, 89.99999999999999, 90.0, 179.9999, 180.0, 1e308, -1e308,
                               5e-324, 2**53 + 1, -(2**63), 2**63 - 1, 2**63, 2**64, 10**20, -1, 1])


def mostly(good: st.SearchStrategy, edges: st.SearchStrategy) -> st.SearchStrategy:
    """Good values seven times in eight, edge values the rest (a record has many values: edges in all
    of them would leave few records for the typed path to take)."""
    return st.integers(0, 7).flatmap(lambda draw: edges if draw == 0 else good)


def _in_bounds(bounds: dict[str, float], integer: bool) -> st.SearchStrategy:
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if integer:
        return st.integers(-5 if low is None else int(low), 5 if high is None else int(high)).filter(
            lambda n: ("gt" not in bounds or n > bounds["gt"]) and ("lt" not in bounds or n < bounds["lt"]))
    return st.floats(low, high, allow_nan=False, allow_infinity=False,
                     exclude_min="gt" in bounds, exclude_max="lt" in bounds)


def canonical(kind: model.Kind) -> st.SearchStrategy:
    """Values of a kind mostly in the canonical form the typed path takes, and at its edges."""
    if isinstance(kind, model.Email):
        good = st.builds("{}@{}.{}".format, st.text(string.ascii_letters + "._+-", min_size=1, max_size=6),
                         st.text(string.ascii_letters + "-", min_size=1, max_size=5),
                         st.text(string.ascii_letters + ".-", min_size=1, max_size=4))
        return mostly(good, st.sampled_from(["", "A@B.CO", " a@b.co", "a@b.co\n", "a@b..", "a@-.c", "é@b.co", "a@b"]))
    if isinstance(kind, model.Str):
        return st.one_of(st.text(max_size=6), st.text(min_size=kind.min_length, max_size=6))
    if isinstance(kind, model.Float):
        return mostly(_in_bounds(kind.bounds, integer=False), st.one_of(NEAR_BOUNDS, st.integers(-10, 10)))
    if isinstance(kind, model.Int):
        return mostly(_in_bounds(kind.bounds, integer=True),
                      NEAR_BOUNDS.map(lambda number: int(number) if abs(number) < 1e30 else 0))
    if isinstance(kind, model.Bool):
        return st.booleans()
    if isinstance(kind, model.DateTime):
        good = st.one_of(st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")),
                         st.datetimes().map(lambda moment: moment.isoformat()), st.integers(-(2**63), 2**63 - 1))
        return mostly(good, st.one_of(TIME_TEXT, st.floats(allow_nan=False, allow_infinity=False)))
    if isinstance(kind, model.Date):
        return mostly(st.one_of(st.dates().map(str), st.integers(-(10**12), 10**12)),
                      st.sampled_from(["2024-02-29", "2023-02-29", "0000-01-01", "2024-2-9", "2024-13-01"]))
    if isinstance(kind, model.HttpUrl):
        return st.sampled_from(["https://example.com/a.jpg", "http://x.co", "https://localhost", "ftp://x.com"])
    if isinstance(kind, model.Enum):
        return mostly(st.sampled_from(kind.values), st.just("other"))
    if isinstance(kind, model.AnyValue):
        return st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False,
                                      allow_infinity=False), st.text(max_size=3)),
                            lambda inner: st.one_of(st.lists(inner, max_size=2),
                                                    st.dictionaries(st.text(max_size=2), inner, max_size=2)),
                            max_leaves=12)
    if isinstance(kind, model.ListOf):
        return st.lists(canonical(kind.item), max_size=3)
    if isinstance(kind, model.DictOf):
        return st.dictionaries(st.text(max_size=3), canonical(kind.value), max_size=3)
    if isinstance(kind, model.OneOf):
        every_field = {f.name: st.one_of(canonical(f.kind), st.none())
                       for _, variant in kind.variants for f in variant.fields}
        return mostly(st.one_of(*(canonical_objects(variant) for _, variant in kind.variants)),
                      st.fixed_dictionaries({}, optional=every_field))
    if isinstance(kind, model.Model):
        return canonical_objects(kind)
    raise TypeError(kind)


def canonical_objects(declared: model.Model) -> st.SearchStrategy[dict]:
    required = {f.name: canonical(f.kind) for f in declared.fields if f.required}
    optional = {f.name: mostly(canonical(f.kind), st.none()) for f in declared.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def records(declared) -> st.SearchStrategy[dict]:
    """Mostly canonical records; some with any value pydantic's rules test (conversions, wrong kinds);
    now and then an undeclared field."""
    extra = st.dictionaries(st.sampled_from(["extra", "from_"]), st.integers(), max_size=1)
    return st.one_of(canonical_objects(declared.model), canonical_objects(declared.model), objects(declared.model),
                     st.builds(lambda record, more: {**record, **more}, canonical_objects(declared.model), extra))


@pytest.mark.parametrize("declared", lexer.TYPES, ids=lambda declared: declared.name)
def test_on_generated_records_the_typed_path_only_takes_what_the_exact_checker_accepts(declared):
    taken = []

    @SETTINGS
    @given(records(declared), st.booleans())
    def agrees(record, ascii_only):
        line = json.dumps(record, ensure_ascii=ascii_only).encode()
        taken.append(assert_agrees(declared.name, line))

    agrees()
    # Not vacuous: a good share of the records took the typed path (about 1 in 10 for the largest types).
    assert sum(taken) >= len(taken) // 20, f"only {sum(taken)} of {len(taken)} generated records took the typed path"


# -- where msgspec is laxer than orjson ----------------------------------------------------------------

PURCHASE = json.loads(purchase_lines(1)[0])
BIG_INT = "1" + "0" * 400  # orjson: a number past a double's range is invalid JSON; msgspec: an int


def _purchase_with(text_after_brace: str) -> bytes:
    return b"{" + text_after_brace.encode("utf-8", "surrogatepass") + orjson.dumps(PURCHASE)[1:]


LAXER_IN_MSGSPEC = {
    "invalid UTF-8 in an undeclared field": b'{"zz": "\xff\xfe", ' + orjson.dumps(PURCHASE)[1:],
    "invalid UTF-8 in a field name": b'{"\xff": 1, ' + orjson.dumps(PURCHASE)[1:],
    "a UTF-8-encoded surrogate": b'{"zz": "\xed\xa0\x80", ' + orjson.dumps(PURCHASE)[1:],
    "an overlong UTF-8 sequence": b'{"zz": "\xc0\xaf", ' + orjson.dumps(PURCHASE)[1:],
    "a float past a double's range, undeclared": _purchase_with('"zz": 1e400, '),
    "an integer past a double's range, undeclared": _purchase_with(f'"zz": {BIG_INT}, '),
    "an integer past a double's range, in custom_fields": _purchase_with(f'"custom_fields": {{"a": {BIG_INT}}}, '),
    "an integer past a double's range, a quantity": orjson.dumps(PURCHASE).replace(
        b'"quantity":', b'"quantity":' + BIG_INT.encode() + b",\"q\":"),
    "an integer past a double's range, as unix seconds": _purchase_with(f'"action_at": {BIG_INT}, '),
    "nesting deeper than orjson takes, undeclared": _purchase_with('"zz": ' + "[" * 1100 + "]" * 1100 + ", "),
    "nesting deeper than orjson takes, in custom_fields": _purchase_with(
        '"custom_fields": {"a": ' + "[" * 1100 + "]" * 1100 + "}, "),
    "nesting just within orjson's limit, in custom_fields": _purchase_with(
        '"custom_fields": {"a": ' + "[" * 1021 + "]" * 1021 + "}, "),
    "an integer beyond 64 bits where a float is declared": orjson.dumps(PURCHASE).replace(
        b'"price_paid":', b'"price_paid":123456789012345678901234567890,"x":'),
    "a lone surrogate escape": _purchase_with('"zz": "\\ud800", '),
    "a duplicate key, the last one bad": _purchase_with('"purchase_id": "first", ').replace(
        b'"purchase_id":"p-', b'"purchase_id":5,"y":"p-'),
    "a duplicate key, the last one good": _purchase_with('"purchase_id": 5, '),
    "a byte-order mark": b"\xef\xbb\xbf" + orjson.dumps(PURCHASE),
    "a lower-case t in the date-time": orjson.dumps({**PURCHASE, "action_at": "2024-08-29t10:11:12Z"}),
    "a lower-case z in the date-time": orjson.dumps({**PURCHASE, "action_at": "2024-08-29T10:11:12z"}),
    "13 fraction digits": orjson.dumps({**PURCHASE, "action_at": "2024-08-29T10:11:12.1234567890123Z"}),
    "12 fraction digits": orjson.dumps({**PURCHASE, "action_at": "2024-08-29T10:11:12.123456789012Z"}),
    "a leap second": orjson.dumps({**PURCHASE, "action_at": "2024-08-29T23:59:60Z"}),
    "24:00": orjson.dumps({**PURCHASE, "action_at": "2024-08-29T24:00:00Z"}),
    "29 February in a common year": orjson.dumps({**PURCHASE, "action_at": "2023-02-29T10:11:12Z"}),
    "year 0": orjson.dumps({**PURCHASE, "action_at": "0000-01-01T00:00:00Z"}),
    "an offset of 24 hours": orjson.dumps({**PURCHASE, "action_at": "2024-08-29T10:11:12+24:00"}),
    "trailing text": orjson.dumps(PURCHASE) + b" x",
    "an empty purchase_id": orjson.dumps({**PURCHASE, "purchase_id": ""}),
    "a purchase_id over 1024 bytes": orjson.dumps({**PURCHASE, "purchase_id": "é" * 513}),
}


@pytest.mark.parametrize("line", LAXER_IN_MSGSPEC.values(), ids=LAXER_IN_MSGSPEC.keys())
def test_lines_msgspec_alone_would_judge_differently_get_the_exact_verdict(line):
    assert_agrees("purchase", line)


def test_undeclared_fields_take_the_typed_path_once_orjson_has_checked_the_line():
    accept = typed_path("purchase")
    for extra in ('"note": "call back", ', '"crm": {"tier": [1, 2.5, null, {"a": "b"}]}, ',
                  '"store": {"type": "outlet", "name": "x", "floor": 2}, '.replace('"store"', '"ignored"')):
        line = _purchase_with(extra)
        assert accept(line) == PURCHASE["purchase_id"]
        assert_agrees("purchase", line)
    nested = orjson.dumps({**PURCHASE, "store": {**PURCHASE["store"], "floor": 2}})  # undeclared, one level down
    assert accept(nested) == PURCHASE["purchase_id"]
    # An undeclared field next to a value that needs a conversion: the exact checker, on the parsed line.
    converted = _purchase_with('"note": 1, ').replace(b'"quantity":', b'"quantity":"1","q":')
    assert accept(converted) is None and assert_agrees("purchase", converted) is False


def test_what_msgspec_would_accept_is_refused_by_the_exact_checker():
    # Not a vacuous table: each of these is refused by the exact checker.
    for name in ("invalid UTF-8 in an undeclared field", "a float past a double's range, undeclared",
                 "an integer past a double's range, in custom_fields",
                 "nesting deeper than orjson takes, in custom_fields",
                 "a lower-case t in the date-time", "13 fraction digits", "an empty purchase_id"):
        assert exact("purchase", LAXER_IN_MSGSPEC[name])[0] is not None, name
    assert exact("purchase", LAXER_IN_MSGSPEC["nesting just within orjson's limit, in custom_fields"])[0] is None


@SETTINGS
@given(st.sampled_from(purchase_lines(20) + customer_lines(20)), st.integers(0, 10**6),
       st.binary(min_size=1, max_size=3))
def test_bytes_spliced_into_well_formed_lines_get_the_exact_verdict(line, where, spliced):
    at = where % len(line)
    name = "purchase" if b"purchase_id" in line else "customer_record"
    assert_agrees(name, line[:at] + spliced + line[at:])


# -- the pieces: date-times, emails, links -------------------------------------------------------------

@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(st.one_of(TIME_TEXT, st.datetimes().map(lambda m: m.isoformat()),
                 st.datetimes().map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
                 st.text("0123456789-:TZ+. tz", max_size=32)))
def test_a_date_time_the_typed_path_takes_is_one_the_exact_checker_takes(text):
    if fast_path.canonical_datetime(text):
        model.as_datetime(text)  # raises Refused when the authority refuses it


@pytest.mark.parametrize("text", ["2024-08-29T10:11:12Z", "2024-08-29T10:11:12", "2024-02-29T00:00:00Z",
                                  "2000-02-29T23:59:59Z", "2024-08-29T10:11:12.123Z",
                                  "2024-08-29T10:11:12.123456+10:00", "9999-12-31T23:59:59-23:59",
                                  "0001-01-01T00:00:00"])
def test_common_date_time_forms_take_the_typed_path(text):
    assert fast_path.canonical_datetime(text)


@pytest.mark.parametrize("text", ["1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
                                  "2024-8-29T10:11:12Z", "2024-08-29 10:11:12Z", "2024-08-29T10:11Z",
                                  "2024-W35-4T10:11:12", "20240829T101112Z", "2024-08-29T101112.5Z"])
def test_other_date_time_forms_are_left_to_the_exact_checker(text):
    assert not fast_path.canonical_datetime(text)


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(st.one_of(canonical(model.Email()), st.text(string.printable, max_size=12)))
def test_an_email_the_typed_path_takes_is_one_the_exact_checker_takes(text):
    if fast_path.EMAIL_PATTERN.fullmatch(text):
        assert model.normal_email(text) == text.lower()


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(st.one_of(canonical(lexer.LINK), values(lexer.LINK)))
def test_a_link_the_typed_path_takes_has_the_exact_checkers_verdict_and_key(link):
    if not isinstance(link, dict) or not all(isinstance(value, str) for value in link.values()):
        return  # the typed path decodes links as {name: string}: anything else is the authority's
    key = fast_path._Links(lexer.LINK).key(link)  # the private piece under test
    if key is not None:
        assert lexer.LINK.compile()(link) is None
        assert key == keys.link_key(link)


def test_every_link_shape_takes_the_typed_path_with_the_exact_key():
    links = [{"email": "Ana@Example.com"}, {"email_sha256": "AB12 "}, {"email_md5": "CD"}, {"mobile": "614"},
             {"customer_id": "C-1"}, {"system_name": "loyalty app", "customer_id": "C-1"},
             {"external_id": "X", "system_name": "crm"}, {"link_type": "email", "link_value": " A@B.CO"},
             {"link_value": "7", "link_type": "customer_id", "id_type": "pos"},
             {"link_type": "mobile", "link_value": "1", "id_type": "default"}]
    reader = fast_path._Links(lexer.LINK)
    for link in links:
        assert reader.key(link) == keys.link_key(link), link
    assert reader.key({"customer_id": "C-1", "email": "a@b.co"}) is None
    assert reader.key({"link_type": "email", "link_value": ""}) is None


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(st.one_of(canonical(lexer.LINK), values(lexer.LINK)))
def test_a_link_that_is_not_the_key_passes_exactly_when_it_would_give_a_key(link):
    # Event types check their link without building its key: the check and the keyer must agree.
    if not isinstance(link, dict) or not all(isinstance(value, str) for value in link.values()):
        return
    reader = fast_path._Links(lexer.LINK)
    shape = tuple(link)
    check = reader.checks.get(shape)
    passes = shape in reader.checks and (check is None or check(link) is not None)
    assert passes == (reader.key(link) is not None), link


# -- through check_line ---------------------------------------------------------------------------------

def test_check_line_keeps_the_exact_messages_for_lines_the_typed_path_refuses():
    line = orjson.dumps({**PURCHASE, "products": [{"price_paid": -1, "quantity": 0}], "type": "mail"})
    assert check_line(record_types.get("purchase"), line) == (
        ('type: must be one of "physical", "ecommerce"; products[0].price_paid: must be ≥ 0; '
         "products[0].quantity: must be ≥ 1"), None, None)


def test_types_declared_as_json_schema_have_no_typed_path():
    for name in ("profile_changes", "audience_member"):
        assert record_types.get(name).typed_path is None
