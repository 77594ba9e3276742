"""The record-type catalogue: names and aliases, record keys, and the messages users read in the error log."""

from __future__ import annotations

import pytest

from ingest import record_types
from ingest.record_types import MAX_KEY_BYTES


@pytest.fixture
def customer():
    return record_types.get("customer_record")


@pytest.fixture
def purchase():
    return record_types.get("purchase")


def valid_purchase(**overrides):
    record = {"purchase_id": "p-1", "link": {"customer_id": "c-1"}, "action_at": "2024-08-29T10:11:12Z",
              "type": "ecommerce", "products": [{"price_paid": 4.75, "quantity": 2}]}
    record.update(overrides)
    return record


def test_catalogue_names_lexers_types_and_ours():
    assert {"customer_record", "purchase", "return", "product"} <= set(record_types.catalogue())
    assert record_types.get("no_such_type") is None


@pytest.mark.parametrize(("alias", "name"), [("purchase_event", "purchase"), ("return_event", "return"),
                                             ("product_record", "product")])
def test_old_names_are_aliases_of_lexers_names(alias, name):
    assert record_types.canonical(alias) == name
    assert record_types.get(alias) is record_types.get(name)
    assert alias not in record_types.catalogue()
    assert alias in record_types.get(name).describe()["aliases"]
    assert record_types.canonical(name) == name and record_types.canonical("nope") is None


def test_describe_gives_key_aliases_source_and_schema(customer):
    described = customer.describe()
    assert described["name"] == "customer_record" and described["aliases"] == []
    assert described["key"].startswith("link as <kind>:<identifier>")
    assert described["lexer_source"].startswith("lexer_schemas/profile_api/customer_record.py")
    assert described["schema"]["required"] == ["link"]
    assert [variant["title"] for variant in described["schema"]["properties"]["link"]["oneOf"]][:2] == [
        "email", "email_sha256"]


def test_clear_data_covers_partitions_of_old_names():
    assert record_types.partitions_of("purchase") == {"purchase"}
    assert record_types.partitions_of("purchase_event") == {"purchase", "purchase_event"}
    assert record_types.partitions_of("profile_changes") == {"profile"}
    assert record_types.partitions_of("profile") == {"profile"}


# -- keys ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("link", "key"),
    [
        ({"email": "Jane@Fake.com"}, "email:jane@fake.com"),
        ({"email": " jane@fake.com "}, "email:jane@fake.com"),
        ({"email_sha256": "ABC1"}, "email_sha256:abc1"),
        ({"email_md5": "DEF2 "}, "email_md5:def2"),
        ({"mobile": "61400000001"}, "mobile:61400000001"),
        ({"mobile": 61400000001}, "mobile:61400000001"),
        ({"customer_id": "C-1"}, "customer_id:C-1"),
        ({"customer_id": 42}, "customer_id:42"),
        ({"customer_id": "C-1", "system_name": None}, "customer_id:C-1"),
        ({"customer_id": "C-1", "system_name": "pos"}, "customer_id@pos:C-1"),
        ({"external_id": "X-1", "system_name": "loyalty app"}, "external_id@loyalty%20app:X-1"),
        ({"link_type": "email", "link_value": "Jane@Fake.com"}, "email:jane@fake.com"),
        ({"link_type": "customer_id", "link_value": "C-1", "id_type": "default"}, "customer_id:C-1"),
        ({"link_type": "customer_id", "link_value": "C-1", "id_type": "pos"}, "customer_id@pos:C-1"),
        ({"link_type": "engage.id", "link_value": "e-1", "id_type": None}, "engage.id:e-1"),
    ],
)
def test_customer_key_is_the_links_identifier_with_its_kind(customer, link, key):
    assert customer.key_of({"link": link}) == key


def test_one_customer_whatever_the_case_of_the_email(customer):
    assert (customer.key_of({"link": {"email": "Jane@Fake.com"}})
            == customer.key_of({"link": {"email": "jane@fake.com"}}))


def test_the_kind_of_identifier_is_part_of_the_key(customer):
    assert customer.key_of({"link": {"customer_id": "1"}}) != customer.key_of({"link": {"mobile": "1"}})
    # A system name cannot be confused with an identifier: it is percent-encoded and ends at the first ':'.
    assert customer.key_of({"link": {"customer_id": "b:c", "system_name": "a"}}) != customer.key_of(
        {"link": {"customer_id": "c", "system_name": "a:b"}})
    assert customer.key_of({"link": {"customer_id": "C-1", "system_name": "pos"}}) != customer.key_of(
        {"link": {"customer_id": "C-1"}})


def test_event_ids_are_read_as_lexer_reads_them(purchase):
    assert purchase.key_of(valid_purchase(purchase_id="order-77")) == "order-77"
    assert purchase.key_of(valid_purchase(purchase_id=7)) == "7"
    assert purchase.key_of(valid_purchase(purchase_id=7.5)) == "7.5"
    assert purchase.key_of(valid_purchase(purchase_id=True)) == "True"  # pydantic 1.10's str(True)


def test_product_key_is_the_field_its_reference_type_names():
    product = record_types.get("product")
    assert product.key_of({"product_id": "p-1", "sku": "S-1"}) == "product_id:p-1"
    assert product.key_of({"product_id": "p-1", "sku": "S-1", "product_reference_type": "sku"}) == "sku:S-1"
    assert product.key_of({"upc": 123, "product_reference_type": "upc"}) == "upc:123"


def test_no_key_for_rejected_records(customer, purchase):
    assert customer.key_of([1, 2]) is None
    assert customer.key_of({"link": "c-1"}) is None
    assert customer.key_of({"customer_id": "c-1"}) is None  # not under link
    assert purchase.key_of({"link": {"customer_id": "c-1"}}) is None


def test_route_key_reads_an_unchecked_line_without_failing(customer, purchase):
    assert customer.route_key({"link": {"email": "Jane@Fake.com"}}) == "email:jane@fake.com"
    assert customer.route_key({"link": "c-1"}) is None
    assert purchase.route_key({"purchase_id": ["x"]}) is None
    assert purchase.route_key(valid_purchase(action_at="not a time")) == "p-1"  # same chunk as its good lines


# -- validation messages -----------------------------------------------------------------------

def test_valid_records_have_no_problem(customer, purchase):
    assert customer.problem_with({"link": {"email": "x@y.zz"}, "first_name": "Ada"}) is None
    assert customer.problem_with({"link": {"customer_id": 12}}) is None
    assert purchase.problem_with(valid_purchase(currency="AUD")) is None


def test_nested_array_error_names_index_and_rule(purchase):
    record = valid_purchase(products=[{"price_paid": 1, "quantity": 1}, {"price_paid": 1, "quantity": 0}])
    assert purchase.problem_with(record) == "products[1].quantity: must be ≥ 1"


def test_missing_required_field_is_named(purchase):
    record = valid_purchase()
    del record["action_at"]
    assert purchase.problem_with(record) == "action_at: is required"


def test_every_problem_is_named_in_field_order(purchase):
    assert purchase.problem_with({}) == (
        "link: is required; action_at: is required; type: is required; purchase_id: is required; products: is required"
    )


def test_many_problems_are_cut_after_ten(purchase):
    lines = [{"price_paid": -1, "quantity": 1}] * 12
    assert purchase.problem_with(valid_purchase(products=lines)) == (
        "; ".join(f"products[{i}].price_paid: must be ≥ 0" for i in range(10)) + "; and 2 more"
    )


def test_missing_required_field_inside_array_item(purchase):
    assert purchase.problem_with(valid_purchase(products=[{"quantity": 1}])) == "products[0].price_paid: is required"


def test_customer_link_needs_exactly_one_identifier(customer):
    assert customer.problem_with({"link": {}}).startswith("link: must hold one identifier: email; email_sha256;")
    assert customer.problem_with({"first_name": "Ada"}) == "link: is required"
    assert customer.problem_with({"link": {"customer_id": "c-1", "email": "a@b.co"}}) == (
        "link: holds email and customer_id: a link holds exactly one identifier"
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"link": {"email": "no-at-sign"}}, "link.email: must be an email address"),
        ({"link": {"link_type": "email", "link_value": ""}}, "link.link_value: must not be empty"),
        ({"link": {"customer_id": [1]}}, "link.customer_id: must be a string"),
        ({"link": "c-1"},
         ("link: must hold one identifier: email; email_sha256; email_md5; customer_id (+ system_name); "
          "mobile; external_id + system_name; link_type + link_value (+ id_type; deprecated)")),
        ({"link": {"customer_id": "c"}, "date_of_birth": "29/08/2024"},
         "date_of_birth: must be a date, e.g. 2023-03-06 (or unix seconds)"),
        ({"link": {"customer_id": "c"}, "custom_fields": []}, "custom_fields: must be an object"),
    ],
)
def test_customer_messages(customer, record, message):
    assert customer.problem_with(record) == message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"type": "online"}, 'type: must be one of "physical", "ecommerce"'),
        ({"products": {"price_paid": 1}}, "products: must be an array"),
        ({"products": [{"price_paid": 1, "quantity": "1.5"}]}, "products[0].quantity: must be an integer"),
        ({"products": [{"price_paid": "free", "quantity": 1}]}, "products[0].price_paid: must be a number"),
        ({"action_at": "2024-08-29"}, "action_at: must be a date-time, e.g. 2023-03-06T12:26:47Z (or unix seconds)"),
        ({"purchase_id": None}, "purchase_id: must not be null"),
    ],
)
def test_purchase_messages(purchase, overrides, message):
    assert purchase.problem_with(valid_purchase(**overrides)) == message


@pytest.mark.parametrize(
    ("value", "kind"),
    [([1, 2], "an array"), ("text", "a string"), (3, "a number"), (2.5, "a number"),
     (True, "a boolean"), (None, "null")],
)
def test_non_object_line_is_described(customer, value, kind):
    assert customer.problem_with(value) == f"expected a JSON object, got {kind}"


def test_key_longer_than_dynamodb_sort_key_limit_is_rejected(customer, purchase):
    fits = MAX_KEY_BYTES - len("customer_id:")
    assert customer.problem_with({"link": {"customer_id": "k" * fits}}) is None
    assert customer.problem_with({"link": {"customer_id": "k" * (fits + 1)}}) == (
        "link: must be at most 1024 bytes (it is the record key)"
    )
    # The limit is in UTF-8 bytes, not characters: 342 x 'é' (2 bytes each) = 684 bytes is fine,
    # 513 x 'é' = 1026 bytes is not.
    assert purchase.problem_with(valid_purchase(purchase_id="é" * 342)) is None
    assert purchase.problem_with(valid_purchase(purchase_id="é" * 513)) == (
        "purchase_id: must be at most 1024 bytes (it is the record key)"
    )


def test_an_empty_identifier_cannot_be_a_key(purchase):
    # Lexer takes an empty purchase_id; the records table cannot hold an empty sort key.
    assert purchase.problem_with(valid_purchase(purchase_id="")) == (
        "purchase_id: must not be empty (it is the record key)")


def test_clear_data_plans_the_partitions_of_old_names_too():
    from ingest.logic import clear
    from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable

    datasets, jobs = FakeDatasetsTable(), FakeJobsTable()
    datasets.add("acme", "ds1")
    for name in ("purchase_event", "customer_record", "profile_changes"):  # purchase_event: noted before the rename
        datasets.note_record_type("acme", "ds1", name)
    jobs.create({"account_id": "acme", "job_id": "clear-1", "job_type": "clear", "status": "Pending"})
    planned = clear.plan(jobs, datasets, {"account_id": "acme", "job_id": "clear-1", "dataset_id": "ds1"})
    assert planned["partitions"] == [{"record_type": name, "shards": 64} for name in
                                     ("customer_record", "profile", "purchase", "purchase_event")]
