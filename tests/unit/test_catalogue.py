"""The full record-type catalogue: one valid record per type, its key, and the messages users read
in the error log when a record breaks one of its main rules."""

from __future__ import annotations

import copy

import pytest

from tests.record_examples import VALID

from ingest import record_types
from ingest.record_types import MAX_KEY_BYTES

TS_PATTERN = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$"
LINK_NEEDS_AN_ID = "link: must contain one of customer_id, email, phone"

ALL_TYPES = {
    "customer_record", "product_record", "purchase_event", "return_event",
    "email_send", "email_open", "email_click", "email_bounce", "email_subscribe",
    "sms_send", "sms_click", "sms_subscribe",
}
LINKED_TYPES = sorted(ALL_TYPES - {"customer_record", "product_record"})  # link needs customer_id/email/phone
EVENT_TIMESTAMPS = {  # the timestamp every event must carry
    "return_event": "returned_at",
    "email_send": "sent_at", "email_open": "opened_at", "email_click": "clicked_at",
    "email_bounce": "bounced_at", "email_subscribe": "subscribed_at",
    "sms_send": "sent_at", "sms_click": "clicked_at", "sms_subscribe": "subscribed_at",
}
COMPOSITE_KEYS = {
    "email_send": ["link", "campaign_id", "sent_at"],
    "email_open": ["link", "campaign_id", "opened_at"],
    "email_click": ["link", "campaign_id", "clicked_at", "url"],
    "email_bounce": ["link", "campaign_id", "bounced_at", "bounce_type"],
    "email_subscribe": ["link", "list_id", "subscribed_at", "status"],
    "sms_send": ["link", "campaign_id", "sent_at"],
    "sms_click": ["link", "campaign_id", "clicked_at", "url"],
    "sms_subscribe": ["link", "list_id", "subscribed_at", "status"],
}

# One valid record per type and the key it is stored under.


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

def test_catalogue_lists_exactly_the_specified_types():
    # 1 profile + 3 commerce + 8 marketing types = 12 names, plus profile_changes (tests/unit/test_profiles.py),
    # which changes profiles instead of storing records of its own, so it has no VALID example here,
    # and audience_member (tests/unit/test_audiences.py), the lines of an audience list's file.
    assert sorted(record_types.catalogue()) == sorted(ALL_TYPES | {"profile_changes", "audience_member"})
    assert len(record_types.catalogue()) == 14


def test_every_type_has_a_valid_example():
    assert set(VALID) == ALL_TYPES


def test_schemas_are_draft_07_and_require_every_key_field():
    for name, record_type in record_types.catalogue().items():
        schema = record_type.schema
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#", name
        assert "additionalProperties" not in schema, name  # extra fields are allowed
        if name in COMPOSITE_KEYS:
            assert record_type.describe()["key_fields"] == COMPOSITE_KEYS[name]
            assert record_type.describe()["key"] == []
            assert schema["required"] == COMPOSITE_KEYS[name]
        if name in EVENT_TIMESTAMPS:
            assert EVENT_TIMESTAMPS[name] in schema["required"], name
            assert schema["properties"][EVENT_TIMESTAMPS[name]]["pattern"] == TS_PATTERN, name
        if name in LINKED_TYPES:
            assert "link" in schema["required"], name
            assert schema["properties"]["link"]["minProperties"] == 1, name


def test_simple_keys():
    assert record_types.get("customer_record").describe()["key"] == ["link.customer_id", "link.email"]
    assert record_types.get("product_record").describe()["key"] == ["product_id"]
    assert record_types.get("purchase_event").describe()["key"] == ["purchase_id"]
    assert record_types.get("return_event").describe()["key"] == ["return_id"]


# -- valid records and their keys -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL_TYPES))
def test_valid_example_has_no_problem_and_its_key(name):
    record, key = VALID[name]
    record_type = record_types.get(name)
    assert record_type.problem_with(record) is None
    assert record_type.key_of(record) == key


def test_extra_fields_are_allowed_everywhere():
    for name in ALL_TYPES:
        assert problem(name, valid(name, some_custom_field={"anything": [1, "two"]})) is None, name


def test_customer_key_stays_customer_id_else_email_and_phone_alone_is_not_a_key():
    customer = record_types.get("customer_record")
    assert customer.key_of({"link": {"email": "a@b.c", "phone": "+61400000001"}}) == "a@b.c"
    assert customer.problem_with({"link": {"phone": "+61400000001"}}) == (
        "link: must contain one of customer_id, email"
    )


def test_product_record_needs_no_link():
    assert problem("product_record", {"product_id": 5}) is None
    assert record_types.get("product_record").key_of({"product_id": 5}) == "5"


# -- re-sent events keep their key ----------------------------------------------------------------

def test_resending_the_same_email_send_gives_the_same_key():
    email_send = record_types.get("email_send")
    first = {"link": {"customer_id": "c-1", "email": "ada@example.com"}, "campaign_id": "camp-1",
             "sent_at": "2024-08-29T10:00:00Z"}
    again = {"sent_at": "2024-08-29T10:00:00Z", "campaign_id": "camp-1",
             "link": {"email": "ada@example.com", "customer_id": "c-1"}}
    assert email_send.problem_with(first) is None and email_send.problem_with(again) is None
    assert email_send.key_of(first) == email_send.key_of(again)
    assert email_send.key_of(first) == '{"customer_id":"c-1","email":"ada@example.com"}|camp-1|2024-08-29T10:00:00Z'


def test_a_different_send_time_is_a_different_email_send():
    email_send = record_types.get("email_send")
    first = valid("email_send")
    later = valid("email_send", sent_at="2024-08-29T10:00:01Z")
    assert email_send.key_of(first) != email_send.key_of(later)


def test_other_identifying_fields_change_the_key():
    click = record_types.get("email_click")
    assert click.key_of(valid("email_click")) != click.key_of(valid("email_click", url="https://x.example/other"))
    assert click.key_of(valid("email_click")) != click.key_of(valid("email_click", campaign_id="camp-2"))
    assert click.key_of(valid("email_click")) != click.key_of(valid("email_click", link={"customer_id": "c-2"}))
    subscribe = record_types.get("email_subscribe")
    assert subscribe.key_of(valid("email_subscribe")) != subscribe.key_of(
        valid("email_subscribe", status="unsubscribed"))


def test_non_identifying_fields_do_not_change_the_key():
    email_send = record_types.get("email_send")
    assert email_send.key_of(valid("email_send")) == email_send.key_of(valid("email_send", subject="Other"))


def test_composite_key_longer_than_the_sort_key_limit_is_rejected():
    long_url = "https://shop.example.com/" + "x" * MAX_KEY_BYTES
    assert problem("email_click", valid("email_click", url=long_url)) == (
        f"link and campaign_id and clicked_at and url: must be at most {MAX_KEY_BYTES} bytes"
    )


# -- link: who the record is about ---------------------------------------------------------------

@pytest.mark.parametrize("name", LINKED_TYPES)
@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({}, LINK_NEEDS_AN_ID),
        ({"loyalty_number": "L-1"}, LINK_NEEDS_AN_ID),
        ("c-1", "link: must be of type object"),
        ({"customer_id": ""}, "link.customer_id: must be at least 1 characters long"),
        ({"customer_id": True}, "link.customer_id: must be of type string or integer"),
        ({"email": "no-at-sign"}, "link.email: must match the pattern ^[^@\\s]+@[^@\\s]+$"),
        ({"phone": "0400 000 001"}, "link.phone: must match the pattern ^\\+[1-9]\\d{6,14}$"),
    ],
)
def test_link_rules(name, link, message):
    assert problem(name, valid(name, link=link)) == message


@pytest.mark.parametrize("name", LINKED_TYPES)
def test_link_is_required(name):
    assert problem(name, without(name, "link")) == "link: is required"


@pytest.mark.parametrize("name", LINKED_TYPES)
@pytest.mark.parametrize("link", [{"customer_id": 9}, {"email": "a@b.c"}, {"phone": "+61400000001"}])
def test_any_one_identifier_is_enough(name, link):
    assert problem(name, valid(name, link=link)) is None


# -- timestamps and required key fields ----------------------------------------------------------

@pytest.mark.parametrize(("name", "field"), sorted(EVENT_TIMESTAMPS.items()))
@pytest.mark.parametrize("value", ["2024-08-29", "2024-08-29 10:00:00Z", "2024-08-29T10:00:00", "yesterday"])
def test_event_timestamp_must_be_rfc_3339(name, field, value):
    message = problem(name, valid(name, **{field: value}))
    assert message.startswith(f"{field}: must match")
    assert message == f"{field}: must match the pattern {TS_PATTERN}"


@pytest.mark.parametrize(("name", "field"), sorted(EVENT_TIMESTAMPS.items()))
def test_event_timestamp_is_required(name, field):
    assert problem(name, without(name, field)) == f"{field}: is required"


@pytest.mark.parametrize("value", ["2024-08-29T10:00:00Z", "2024-08-29T10:00:00.123456Z", "2024-08-29T20:00:00+10:00",
                                   "2024-08-29T05:30:00-04:30"])
def test_rfc_3339_variants_are_accepted(value):
    assert problem("email_open", valid("email_open", opened_at=value)) is None


@pytest.mark.parametrize(
    ("name", "field"),
    [(name, field) for name, fields in sorted(COMPOSITE_KEYS.items()) for field in fields],
)
def test_every_key_field_is_required(name, field):
    assert problem(name, without(name, field)) == f"{field}: is required"


def test_every_missing_key_field_is_named():
    assert problem("email_send", {}) == "link: is required; campaign_id: is required; sent_at: is required"


@pytest.mark.parametrize(
    ("name", "record", "message"),
    [
        ("email_send", without("email_send", "campaign_id"), "campaign_id: is required"),
        ("email_send", valid("email_send", campaign_id=""), "campaign_id: must be at least 1 characters long"),
        ("email_send", valid("email_send", campaign_id=1.5), "campaign_id: must be of type string or integer"),
        ("sms_subscribe", valid("sms_subscribe", list_id=None), "list_id: must be of type string or integer"),
        ("product_record", {"name": "Teapot"}, "product_id: is required"),
        ("purchase_event", without("purchase_event", "purchase_id"), "purchase_id: is required"),
        ("return_event", without("return_event", "return_id"), "return_id: is required"),
        ("return_event", {}, "return_id: is required; link: is required; returned_at: is required"),
    ],
)
def test_identifier_messages(name, record, message):
    assert problem(name, record) == message


# -- enums and urls --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("email_bounce", {"bounce_type": "medium"}, 'bounce_type: must be one of "hard", "soft"'),
        ("email_subscribe", {"status": "pending"}, 'status: must be one of "subscribed", "unsubscribed"'),
        ("sms_subscribe", {"status": "yes"}, 'status: must be one of "subscribed", "unsubscribed"'),
        ("purchase_event", {"channel": "web"},
         'channel: must be one of "online", "in_store", "mobile_app", "phone", "marketplace", "other"'),
        ("return_event", {"channel": "post"},
         'channel: must be one of "online", "in_store", "mobile_app", "phone", "marketplace", "other"'),
        ("email_click", {"url": "shop.example.com/sale"}, "url: must match the pattern ^https?://"),
        ("sms_click", {"url": ""}, "url: must match the pattern ^https?://"),
        ("product_record", {"url": "ftp://shop.example.com"}, "url: must match the pattern ^https?://"),
    ],
)
def test_enum_and_url_messages(name, overrides, message):
    assert problem(name, valid(name, **overrides)) == message


def test_bounce_types_and_statuses_accepted():
    assert problem("email_bounce", valid("email_bounce", bounce_type="soft")) is None
    assert problem("email_subscribe", valid("email_subscribe", status="unsubscribed")) is None
    assert problem("sms_subscribe", valid("sms_subscribe", status="subscribed")) is None


# -- money, currencies and products ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["product_record", "purchase_event", "return_event"])
@pytest.mark.parametrize("currency", ["aud", "AU", "AUDD", "$"])
def test_currency_is_iso_4217(name, currency):
    assert problem(name, valid(name, currency=currency)) == "currency: must match the pattern ^[A-Z]{3}$"


@pytest.mark.parametrize(
    ("name", "field"),
    [("product_record", "price"), ("purchase_event", "total"), ("purchase_event", "tax"), ("return_event", "total")],
)
def test_money_is_a_number(name, field):
    assert problem(name, valid(name, **{field: "12.00"})) == f"{field}: must be of type number"
    assert problem(name, valid(name, **{field: 12})) is None


@pytest.mark.parametrize("name", ["purchase_event", "return_event"])
def test_product_quantity_is_a_non_negative_integer(name):
    products = [{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": -1}]
    assert problem(name, valid(name, products=products)) == "products[1].quantity: must be ≥ 0"
    products = [{"product_id": 1, "quantity": 1.5}]
    assert problem(name, valid(name, products=products)) == "products[0].quantity: must be of type integer"


@pytest.mark.parametrize("name", ["purchase_event", "return_event"])
def test_product_lines_need_a_product_id(name):
    products = [{"product_id": "p-1"}, {"sku": "SKU-2", "quantity": 1}]
    assert problem(name, valid(name, products=products)) == "products[1].product_id: is required"
    assert problem(name, valid(name, products={"product_id": 1})) == "products: must be of type array"
    assert problem(name, valid(name, products=[{"product_id": 1, "price": "9"}])) == (
        "products[0].price: must be of type number"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"price": -1}, "price: must be ≥ 0"),
        ({"name": ""}, "name: must be at least 1 characters long"),
        ({"product_id": ""}, "product_id: must be at least 1 characters long"),
        ({"in_stock": "yes"}, "in_stock: must be of type boolean"),
        ({"attributes": []}, "attributes: must be of type object"),
    ],
)
def test_product_record_messages(overrides, message):
    assert problem("product_record", valid("product_record", **overrides)) == message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"store": "Acme CBD"}, "store: must be of type object"),
        ({"store": {"location": {"name": ""}}}, "store.location.name: must be at least 1 characters long"),
        ({"store": {"location": {"name": "CBD", "latitude": 91}}}, "store.location.latitude: must be ≤ 90"),
        ({"store": {"location": {"name": "CBD", "country": "AUS"}}},
         "store.location.country: must match the pattern ^[A-Z]{2}$"),
        ({"discounts": [{"code": "X", "amount": -5}]}, "discounts[0].amount: must be ≥ 0"),
        ({"discounts": {"code": "X"}}, "discounts: must be of type array"),
        ({"purchased_at": "29/08/2024"}, f"purchased_at: must match the pattern {TS_PATTERN}"),
    ],
)
def test_purchase_event_messages(overrides, message):
    assert problem("purchase_event", valid("purchase_event", **overrides)) == message


def test_purchase_event_still_accepts_its_minimal_shape():
    # purchase_id and link stay the only required fields, as before the catalogue grew.
    assert problem("purchase_event", {"purchase_id": "p-1", "link": {"customer_id": "c-1"}}) is None


# -- customer profile -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"link": {}}, "link: must contain one of customer_id, email"),
        ({"link": {"customer_id": "c-1", "phone": "0400000001"}},
         "link.phone: must match the pattern ^\\+[1-9]\\d{6,14}$"),
        ({"email": "nobody"}, "email: must match the pattern ^[^@\\s]+@[^@\\s]+$"),
        ({"address": "1 Analytical St"}, "address: must be of type object"),
        ({"address": {"country": "Australia"}}, "address.country: must match the pattern ^[A-Z]{2}$"),
        ({"date_of_birth": "10/12/1815"}, "date_of_birth: must match the pattern ^\\d{4}-\\d{2}-\\d{2}$"),
        ({"created_at": "2024-08-29"}, f"created_at: must match the pattern {TS_PATTERN}"),
        ({"gender": 1}, "gender: must be of type string"),
        ({"attributes": "vip"}, "attributes: must be of type object"),
    ],
)
def test_customer_record_messages(overrides, message):
    assert problem("customer_record", valid("customer_record", **overrides)) == message


def test_customer_sample_lines_stay_valid():
    line = {"link": {"customer_id": "cust-00001", "email": "ken.1@example.com"}, "first_name": "Ken",
            "last_name": "Turing", "phone": "+61400000001"}
    assert problem("customer_record", line) is None
