"""The record-type catalogue: record keys and schema error messages users read in the error log."""

from __future__ import annotations

import pytest

from ingest import record_types
from ingest.record_types import MAX_KEY_BYTES


@pytest.fixture
def customer():
    return record_types.get("customer_record")


@pytest.fixture
def purchase():
    return record_types.get("purchase_event")


def valid_purchase(**overrides):
    record = {"purchase_id": "p-1", "link": {"customer_id": "c-1"}}
    record.update(overrides)
    return record


def test_catalogue_includes_the_walking_skeleton_types():
    assert {"customer_record", "purchase_event"} <= set(record_types.catalogue())
    assert record_types.get("no_such_type") is None


def test_describe_exposes_key_paths_and_schema(customer):
    described = customer.describe()
    assert described["name"] == "customer_record"
    assert described["key"] == ["link.customer_id", "link.email"]
    assert described["schema"]["required"] == ["link"]


# -- keys ----------------------------------------------------------------------------------------

def test_customer_key_is_customer_id_when_present(customer):
    assert customer.key_of({"link": {"customer_id": "c-9", "email": "a@b.c"}}) == "c-9"


def test_customer_key_falls_back_to_email(customer):
    assert customer.key_of({"link": {"email": "a@b.c"}}) == "a@b.c"


def test_customer_key_skips_empty_customer_id(customer):
    assert customer.key_of({"link": {"customer_id": "", "email": "a@b.c"}}) == "a@b.c"


def test_integer_ids_become_string_keys(customer, purchase):
    assert customer.key_of({"link": {"customer_id": 42}}) == "42"
    assert customer.key_of({"link": {"customer_id": 0}}) == "0"
    assert purchase.key_of({"purchase_id": 7, "link": {"x": 1}}) == "7"


def test_boolean_is_never_a_key(customer, purchase):
    assert customer.key_of({"link": {"customer_id": True}}) is None
    assert customer.key_of({"link": {"customer_id": False, "email": "a@b.c"}}) == "a@b.c"
    assert purchase.key_of({"purchase_id": True, "link": {"x": 1}}) is None


def test_boolean_key_is_rejected_by_validation(customer, purchase):
    assert customer.problem_with({"link": {"customer_id": True}}) == (
        "link.customer_id: must be of type string or integer"
    )
    assert purchase.problem_with(valid_purchase(purchase_id=False)) == (
        "purchase_id: must be of type string or integer"
    )


def test_no_key_for_non_objects_or_missing_paths(customer, purchase):
    assert customer.key_of([1, 2]) is None
    assert customer.key_of({"link": "c-1"}) is None
    assert customer.key_of({"customer_id": "c-1"}) is None  # not under link
    assert purchase.key_of({"link": {"customer_id": "c-1"}}) is None


def test_purchase_key_is_purchase_id(purchase):
    assert purchase.key_of(valid_purchase(purchase_id="order-77")) == "order-77"


# -- validation messages -----------------------------------------------------------------------

def test_valid_records_have_no_problem(customer, purchase):
    assert customer.problem_with({"link": {"email": "x@y.z"}, "first_name": "Ada"}) is None
    assert customer.problem_with({"link": {"customer_id": 12}}) is None
    assert purchase.problem_with(valid_purchase(
        purchased_at="2024-08-29T10:11:12Z", currency="AUD", total=9.5,
        products=[{"product_id": "sku-1", "quantity": 2, "price": 4.75}],
    )) is None


def test_nested_array_error_names_index_and_rule(purchase):
    record = valid_purchase(products=[{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": -1}])
    assert purchase.problem_with(record) == "products[1].quantity: must be ≥ 0"


def test_missing_required_field_is_named(purchase):
    record = valid_purchase()
    del record["purchase_id"]
    assert purchase.problem_with(record) == "purchase_id: is required"


def test_every_missing_required_field_is_named(purchase):
    assert purchase.problem_with({}) == "purchase_id: is required; link: is required"


def test_missing_required_field_inside_array_item(purchase):
    assert purchase.problem_with(valid_purchase(products=[{"quantity": 1}])) == (
        "products[0].product_id: is required"
    )


def test_customer_link_needs_an_id_or_email(customer):
    assert customer.problem_with({"link": {}}) == "link: must contain one of customer_id, email"
    assert customer.problem_with({"first_name": "Ada"}) == "link: is required"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"link": {"email": "no-at-sign"}}, "link.email: must match the pattern ^[^@\\s]+@[^@\\s]+$"),
        ({"link": {"customer_id": ""}}, "link.customer_id: must be at least 1 characters long"),
        ({"link": {"customer_id": 1.5}}, "link.customer_id: must be of type string or integer"),
        ({"link": "c-1"}, "link: must be of type object"),
        ({"link": {"customer_id": "c"}, "date_of_birth": "29/08/2024"},
         "date_of_birth: must match the pattern ^\\d{4}-\\d{2}-\\d{2}$"),
        ({"link": {"customer_id": "c"}, "attributes": []}, "attributes: must be of type object"),
    ],
)
def test_customer_schema_messages(customer, record, message):
    assert customer.problem_with(record) == message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"currency": "usd"}, "currency: must match the pattern ^[A-Z]{3}$"),
        ({"total": "12.00"}, "total: must be of type number"),
        ({"link": {}}, "link: must contain one of customer_id, email, phone"),
        ({"products": {"product_id": 1}}, "products: must be of type array"),
        ({"products": [{"product_id": 1, "quantity": 1.5}]}, "products[0].quantity: must be of type integer"),
        ({"purchased_at": "2024-08-29"}, "purchased_at: must match the pattern "
                                         "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$"),
    ],
)
def test_purchase_schema_messages(purchase, overrides, message):
    assert purchase.problem_with(valid_purchase(**overrides)) == message


@pytest.mark.parametrize(
    ("value", "kind"),
    [([1, 2], "an array"), ("text", "a string"), (3, "a number"), (2.5, "a number"),
     (True, "a boolean"), (None, "null")],
)
def test_non_object_line_is_described(customer, value, kind):
    assert customer.problem_with(value) == f"expected a JSON object, got {kind}"


def test_key_longer_than_dynamodb_sort_key_limit_is_rejected(customer, purchase):
    assert customer.problem_with({"link": {"customer_id": "k" * MAX_KEY_BYTES}}) is None
    assert customer.problem_with({"link": {"customer_id": "k" * (MAX_KEY_BYTES + 1)}}) == (
        "link.customer_id or link.email: must be at most 1024 bytes"
    )
    # The limit is in UTF-8 bytes, not characters: 342 × 'é' (2 bytes each) = 684 bytes is fine,
    # 513 × 'é' = 1026 bytes is not.
    assert purchase.problem_with(valid_purchase(purchase_id="é" * 342)) is None
    assert purchase.problem_with(valid_purchase(purchase_id="é" * 513)) == "purchase_id: must be at most 1024 bytes"


def test_whole_number_float_ids_key_like_integers():
    from ingest import record_types as catalogue

    customer = catalogue.get("customer_record")
    assert customer.key_of({"link": {"customer_id": 5.0, "email": "a@b.c"}}) == "5"
    assert catalogue.get("purchase_event").problem_with({"purchase_id": 1.0, "link": {"customer_id": 1}}) is None
