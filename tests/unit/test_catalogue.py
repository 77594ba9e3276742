"""The full catalogue of Lexer's twelve record types: one valid record per type, its key, and the
messages users read in the error log when a record breaks one of its main rules."""

from __future__ import annotations

import copy

import pytest

from ingest import record_types
from ingest.record_types import MAX_KEY_BYTES
from tests.record_examples import VALID

ALL_TYPES = {
    "customer_record", "product", "purchase", "return",
    "email_send", "email_open", "email_click", "email_bounce", "email_subscribe",
    "sms_send", "sms_click", "sms_subscribe",
}
LINKED_TYPES = sorted(ALL_TYPES - {"product"})  # every type but product names its customer in `link`
EVENT_TYPES = sorted(ALL_TYPES - {"product", "customer_record"})  # each carries action_at
EVENT_IDS = {"purchase": "purchase_id", "return": "return_id",
             **{name: "email_id" for name in ALL_TYPES if name.startswith("email_")},
             **{name: "sms_id" for name in ALL_TYPES if name.startswith("sms_")}}
DATETIME_RULE = "must be a date-time, e.g. 2023-03-06T12:26:47Z (or unix seconds)"


def valid(name: str, /, **overrides):
    record = copy.deepcopy(VALID[name][0])
    record.update(overrides)
    return record


def without(name: str, *fields: str):
    record = valid(name)
    for field in fields:
        del record[field]
    return record


def problem(name: str, record) -> str | None:
    return record_types.get(name).problem_with(record)


# -- the catalogue -------------------------------------------------------------------------------

def test_catalogue_lists_exactly_lexers_types_and_ours():
    # Lexer's 12 (1 profile + 3 commerce + 8 marketing), plus profile_changes (tests/unit/test_profiles.py),
    # which changes profiles instead of storing records of its own, and audience_member
    # (tests/unit/test_audiences.py), the lines of an audience list's file.
    assert sorted(record_types.catalogue()) == sorted(ALL_TYPES | {"profile_changes", "audience_member"})
    assert len(record_types.catalogue()) == 14


def test_every_type_has_a_valid_example():
    assert set(VALID) == ALL_TYPES


def test_served_schemas_are_draft_07_with_lexers_required_fields():
    for name in ALL_TYPES:
        schema = record_types.get(name).schema
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#", name
        assert "additionalProperties" not in schema, name  # extra fields are allowed (Lexer ignores them)
        if name in LINKED_TYPES:
            assert "link" in schema["required"], name
            assert all(variant["additionalProperties"] is False for variant in schema["properties"]["link"]["oneOf"])
        if name in EVENT_TYPES:
            assert {"action_at", EVENT_IDS[name]} <= set(schema["required"]), name
            assert schema["properties"]["action_at"]["format"] == "date-time", name


def test_keys():
    assert record_types.get("customer_record").describe()["key"].startswith("link as <kind>:<identifier>")
    assert record_types.get("product").describe()["key"].startswith("product_reference_type:<the field it names>")
    for name, field in EVENT_IDS.items():
        assert record_types.get(name).describe()["key"] == field


# -- valid records and their keys -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL_TYPES))
def test_valid_example_has_no_problem_and_its_key(name):
    record, key = VALID[name]
    record_type = record_types.get(name)
    assert record_type.problem_with(record) is None
    assert record_type.key_of(record) == key


def test_extra_fields_are_allowed_outside_the_link():
    for name in ALL_TYPES:
        assert problem(name, valid(name, some_custom_field={"anything": [1, "two"]})) is None, name


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_resending_an_event_keeps_its_key_whatever_else_changed(name):
    record_type = record_types.get(name)
    later = valid(name, action_at="2030-01-01T00:00:00Z", link={"mobile": "61400000009"})
    assert record_type.key_of(later) == record_type.key_of(valid(name)) == VALID[name][1]


def test_key_longer_than_the_sort_key_limit_is_rejected():
    assert problem("email_click", valid("email_click", email_id="e" * (MAX_KEY_BYTES + 1))) == (
        f"email_id: must be at most {MAX_KEY_BYTES} bytes (it is the record key)"
    )
    assert problem("product", {"sku": "s" * MAX_KEY_BYTES, "product_reference_type": "sku"}) == (
        f"sku: must be at most {MAX_KEY_BYTES} bytes (it is the record key)"
    )


# -- link: who the record is about ---------------------------------------------------------------

ONE_IDENTIFIER = ("must hold one identifier: email; email_sha256; email_md5; customer_id (+ system_name); mobile; "
                  "external_id + system_name; link_type + link_value (+ id_type; deprecated)")


@pytest.mark.parametrize("name", LINKED_TYPES)
@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({}, "link: " + ONE_IDENTIFIER),
        ({"loyalty_number": "L-1"}, "link: " + ONE_IDENTIFIER),
        ("c-1", "link: " + ONE_IDENTIFIER),
        ({"customer_id": True, "mobile": "1"},
         "link: holds customer_id and mobile: a link holds exactly one identifier"),
        ({"customer_id": "c-1", "phone": "+61400000001"},
         "link.phone: is not allowed in a link: a link holds exactly one identifier"),
        ({"email": "no-at-sign"}, "link.email: must be an email address"),
        ({"external_id": "x"}, "link.system_name: is required"),
        ({"mobile": None}, "link.mobile: must not be null"),
    ],
)
def test_link_rules(name, link, message):
    assert problem(name, valid(name, link=link)) == message


@pytest.mark.parametrize("name", LINKED_TYPES)
def test_link_is_required(name):
    assert problem(name, without(name, "link")) == "link: is required"


@pytest.mark.parametrize("name", LINKED_TYPES)
@pytest.mark.parametrize("link", [{"customer_id": 9}, {"email": "A@B.co"}, {"mobile": "61400000001"},
                                  {"email_sha256": "ab"}, {"email_md5": "cd"},
                                  {"external_id": "x", "system_name": "crm"},
                                  {"link_type": "mobile", "link_value": "61400000001"}])
def test_any_one_identifier_is_enough(name, link):
    assert problem(name, valid(name, link=link)) is None


# -- action_at and the event ids -----------------------------------------------------------------------

@pytest.mark.parametrize("name", EVENT_TYPES)
@pytest.mark.parametrize("value", ["2024-08-29", "2024-08-29T25:00:00Z", "yesterday", "2024-08-29T10:00:00+24:00"])
def test_action_at_must_be_a_date_time(name, value):
    assert problem(name, valid(name, action_at=value)) == f"action_at: {DATETIME_RULE}"


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_action_at_and_the_event_id_are_required(name):
    assert problem(name, without(name, "action_at")) == "action_at: is required"
    assert problem(name, without(name, EVENT_IDS[name])) == f"{EVENT_IDS[name]}: is required"


@pytest.mark.parametrize("value", ["2024-08-29T10:00:00Z", "2024-08-29T10:00:00.123456Z", "2024-08-29T20:00:00+10:00",
                                   "2024-08-29T05:30:00-04:30", "2024-08-29 10:00", "2024-08-29T10:00:00",
                                   1724925600, 1724925600000, "1724925600"])
def test_iso_and_unix_date_times_are_accepted(value):
    assert problem("email_open", valid("email_open", action_at=value)) is None


def test_every_missing_required_field_is_named():
    assert problem("email_send", {}) == "link: is required; action_at: is required; email_id: is required"
    assert problem("return", {}) == (
        "link: is required; action_at: is required; type: is required; return_id: is required; products: is required"
    )


# -- enums -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("email_subscribe", {"status": "list_subscribed"},
         'status: must be one of "subscribed", "unsubscribed", "transactional", "undeliverable"'),
        ("sms_subscribe", {"status": "yes"},
         ('status: must be one of "subscribed", "unsubscribed", "transactional", "undeliverable", "list_subscribed", '
          '"list_unsubscribed"')),
        ("purchase", {"type": "online"}, 'type: must be one of "physical", "ecommerce"'),
        ("return", {"type": "Physical"}, 'type: must be one of "physical", "ecommerce"'),
        ("purchase", {"store": {"type": "web", "name": "x"}},
         'store.type: must be one of "physical", "ecommerce", "concession", "outlet", "online"'),
        ("product", {"product_reference_type": "ean"},
         'product_reference_type: must be one of "sku", "upc", "product_id"'),
    ],
)
def test_enum_messages(name, overrides, message):
    assert problem(name, valid(name, **overrides)) == message


def test_statuses_accepted():
    assert problem("email_subscribe", valid("email_subscribe", status="undeliverable")) is None
    assert problem("sms_subscribe", valid("sms_subscribe", status="list_unsubscribed")) is None


# -- money, quantities and products ------------------------------------------------------------------

def test_purchase_lines_are_positive_and_return_lines_negative():
    purchase_line = {"price_paid": 0, "quantity": 1}
    return_line = {"price_paid": 0, "quantity": -1}
    assert problem("purchase", valid("purchase", products=[purchase_line])) is None
    assert problem("return", valid("return", products=[return_line])) is None
    assert problem("purchase", valid("purchase", products=[purchase_line, {"price_paid": -1, "quantity": 0}])) == (
        "products[1].price_paid: must be ≥ 0; products[1].quantity: must be ≥ 1"
    )
    assert problem("return", valid("return", products=[{"price_paid": 0.5, "quantity": 0}])) == (
        "products[0].price_paid: must be ≤ 0; products[0].quantity: must be ≤ -1"
    )


@pytest.mark.parametrize(("value", "verdict"), [("12.00", None), (12, None), (True, None), (" 7 ", None),
                                                ("twelve", "price: must be a number"),
                                                ([1], "price: must be a number")])
def test_money_takes_what_converts_to_a_number(value, verdict):
    assert problem("product", valid("product", price=value)) == verdict


def test_quantity_truncates_numbers_but_not_text():
    line = {"price_paid": 1}
    assert problem("purchase", valid("purchase", products=[{**line, "quantity": 2.9}])) is None
    assert problem("purchase", valid("purchase", products=[{**line, "quantity": "2"}])) is None
    assert problem("purchase", valid("purchase", products=[{**line, "quantity": "2.5"}])) == (
        "products[0].quantity: must be an integer"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"store": "Acme CBD"}, "store: must be an object"),
        ({"store": {"type": "physical"}}, "store.name: is required"),
        ({"store": {"type": "physical", "name": "N", "location": {"coordinate": {"latitude": 91, "longitude": 0}}}},
         "store.location.coordinate.latitude: must be < 90"),
        ({"store": {"type": "physical", "name": "N", "location": {"coordinate": {"latitude": 0, "longitude": -181}}}},
         "store.location.coordinate.longitude: must be ≥ -180"),
        ({"adjustments": {"price_adjustment": 1}}, "adjustments: must be an array"),
        ({"payment_types": [{"total": 5}]}, "payment_types[0].name: is required"),
        ({"products": [{"price_paid": 1, "quantity": 1, "product_reference": {"id": "p"}}]},
         "products[0].product_reference.id_type: is required"),
    ],
)
def test_purchase_messages(overrides, message):
    assert problem("purchase", valid("purchase", **overrides)) == message


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"name": "Teapot"}, "product_id: is required (product_reference_type is product_id unless given)"),
        ({"product_id": "p", "product_reference_type": "sku"}, "sku: is required when product_reference_type is sku"),
        ({"product_id": "p", "images": ["ftp://x.example.com/a.png"]}, "images[0]: must be an http or https URL"),
        ({"product_id": "p", "images": ["https://intranet/a.png"]},
         "images[0]: must be a URL whose host has a top-level domain"),
        ({"product_id": "p", "options": {"size": "L"}}, "options.size: must be an array"),
        ({"product_id": "p", "availability": {"available": "perhaps"}},
         "availability.available: must be true or false"),
        ({"product_id": "p", "inventory": {"cost": -1}}, "inventory.cost: must be ≥ 0"),
    ],
)
def test_product_messages(record, message):
    assert problem("product", record) == message


# -- customer profile -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "nobody"}, "email: must be an email address"),
        ({"date_of_birth": "10/12/1815"}, "date_of_birth: must be a date, e.g. 2023-03-06 (or unix seconds)"),
        ({"employee_flag": "sometimes"}, "employee_flag: must be true or false"),
        ({"gender": ["f"]}, "gender: must be a string"),
        ({"custom_fields": "vip"}, "custom_fields: must be an object"),
    ],
)
def test_customer_record_messages(overrides, message):
    assert problem("customer_record", valid("customer_record", **overrides)) == message


def test_customer_sample_lines_stay_valid():
    line = {"link": {"customer_id": "cust-00001"}, "first_name": "Ken", "last_name": "Turing",
            "email": "ken.1@example.com", "mobile": "61400000001"}
    assert problem("customer_record", line) is None
