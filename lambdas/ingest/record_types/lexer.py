"""Lexer's record types (lexer-schemas 0.4.1), declared once each in our own field kinds.

Written from Lexer's published specification: field names, nesting, types, enums, bounds and
required fields follow its pydantic models (the file named in each `source`); the descriptions are
ours. docs/record_types.md lists each type and where we deliberately differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.record_types.keys import FieldKey, LinkKey, ReferenceKey
from ingest.record_types.model import (
    AnyValue,
    Bool,
    Date,
    DateTime,
    DictOf,
    Email,
    Enum,
    Float,
    HttpUrl,
    Int,
    ListOf,
    Model,
    OneOf,
    Rule,
    Str,
    defaulted,
    optional,
    required,
)

LEXER_SCHEMAS = "lexer-schemas 0.4.1"

# -- the link: who a record is about ------------------------------------------------------------

_NOT_IN_LINK = "is not allowed in a link: a link holds exactly one identifier"


def _link(*fields) -> Model:
    return Model(*fields, forbid_extra=_NOT_IN_LINK)


LINK_TYPES = ("email", "email_sha256", "customer_id", "mobile", "engage.id", "external_id", "email_md5")

LINK = OneOf(
    ("email", _link(required("email", Email(), "lower-cased and stripped, then checked as an email address"))),
    ("email_sha256", _link(required("email_sha256", Str(), "SHA-256 of the lower-cased email; lower-cased"))),
    ("email_md5", _link(required("email_md5", Str(), "MD5 of the lower-cased email; lower-cased"))),
    ("customer_id (+ system_name)", _link(required("customer_id", Str()), optional("system_name", Str()))),
    ("mobile", _link(required("mobile", Str(), "international format, digits only"))),
    ("external_id + system_name", _link(required("external_id", Str()), required("system_name", Str()))),
    ("link_type + link_value (+ id_type; deprecated)", _link(
        required("link_type", Enum(*LINK_TYPES)), required("link_value", Str(min_length=1)),
        defaulted("id_type", Str(), "default", nullable=True))),
    what="link",
)

# -- shared parts -----------------------------------------------------------------------------------

CHANNEL = Enum("physical", "ecommerce")
PRODUCT_REFERENCE_TYPE = Enum("sku", "upc", "product_id")

STORE = Model(
    optional("store_id", Str()),
    required("type", Enum("physical", "ecommerce", "concession", "outlet", "online"),
             "online is deprecated in favour of ecommerce"),
    required("name", Str()),
    optional("location", Model(
        optional("name", Str()),
        optional("coordinate", Model(
            required("latitude", Float(ge=-90, lt=90)),
            required("longitude", Float(ge=-180, lt=180)),
        )),
    )),
)

PRODUCT_REFERENCE = Model(
    required("id", Str()),
    required("id_type", PRODUCT_REFERENCE_TYPE),
    optional("dataset_id", Str()),
)

TRANSACTION_FIELDS = (
    required("link", LINK),
    required("action_at", DateTime()),
    required("type", CHANNEL),
    optional("currency", Str(), "ISO 4217 code, e.g. USD"),
    optional("adjustments", ListOf(Model(
        required("price_adjustment", Float()),
        optional("adjusted_at", DateTime()),
        optional("reason", Str()),
    ))),
    optional("custom_fields", DictOf(AnyValue()), "free-form"),
    optional("store", STORE),
)

MARKETING_LIST = Model(required("id", Str()), required("name", Str()))
EMAIL_ADDRESS = Model(optional("name", Str()), required("email", Email()))
SMS_RECIPIENT = Model(optional("name", Str()), optional("number", Str()))


def _email_event(*fields) -> Model:
    return Model(required("link", LINK), required("action_at", DateTime()),
                 required("email_id", Str(), "unique per email event"), optional("list", MARKETING_LIST), *fields)


def _sms_event(*fields) -> Model:
    return Model(required("link", LINK), required("action_at", DateTime()),
                 required("sms_id", Str(), "unique per SMS event"), optional("list", MARKETING_LIST), *fields)


def _from_to(address: Model):
    return optional("from", address), optional("to", address)


class ReferenceRequired(Rule):
    """product: the field product_reference_type names must hold a value (pydantic root validator)."""

    def __init__(self, selector: str, default: str, choices: tuple[str, ...]):
        self.selector, self.default, self.choices = selector, default, choices
        self.text = f"the field `{selector}` names (`{default}` unless given) must be present and not null"

    def check(self, record: dict[str, Any]):
        named = record.get(self.selector, self.default)
        if record.get(named) is None:
            if self.selector in record:
                return [((named,), f"is required when {self.selector} is {named}")]
            return [((named,), f"is required ({self.selector} is {self.default} unless given)")]
        return None

    def json_schema(self) -> dict[str, Any]:
        cases = [{"if": {"properties": {self.selector: {"const": choice}}, "required": [self.selector]},
                  "then": {"required": [choice], "properties": {choice: {"type": "string"}}}}
                 for choice in self.choices]
        cases.append({"if": {"not": {"required": [self.selector]}}, "then": {"required": [self.default]}})
        return {"allOf": cases}


@dataclass(frozen=True)
class LexerType:
    name: str
    description: str
    model: Model
    key: Any
    source: str  # the file (and model) in lexer-schemas it follows
    aliases: tuple[str, ...] = ()


TYPES = (
    LexerType(
        "customer_record",
        "A customer: who they are and how to reach them; link identifies them.",
        Model(
            required("link", LINK, "the one identifier of this customer: the record key"),
            optional("email", Email(blank_ok=True), "an attribute, not used for linking"),
            optional("email_sha256", Str()),
            optional("mobile", Str()),
            optional("customer_id", Str()),
            optional("custom_fields", DictOf(AnyValue()), "free-form"),
            optional("first_name", Str()),
            optional("last_name", Str()),
            optional("gender", Str()),
            optional("date_of_birth", Date()),
            optional("country", Str()),
            optional("state", Str()),
            optional("city", Str()),
            optional("postcode", Str()),
            optional("zip", Str()),
            optional("address_1", Str()),
            optional("address_2", Str()),
            optional("employee_flag", Bool()),
            optional("customer_type", Str()),
        ),
        LinkKey(),
        "lexer_schemas/profile_api/customer_record.py (CustomerRecord), lexer_schemas/link.py (Link)",
    ),
    LexerType(
        "purchase",
        "One purchase: its order lines, store, payments and adjustments.",
        Model(
            *TRANSACTION_FIELDS,
            required("purchase_id", Str()),
            optional("payment_types", ListOf(Model(required("name", Str()), optional("total", Float())))),
            required("products", ListOf(Model(
                optional("product_reference", PRODUCT_REFERENCE),
                required("price_paid", Float(ge=0)),
                required("quantity", Int(ge=1)),
                optional("full_price", Float()),
                optional("discount", Float()),
            ))),
        ),
        FieldKey("purchase_id"),
        "lexer_schemas/commerce_api/transaction_event.py (PurchaseEvent), lexer_schemas/common.py",
        aliases=("purchase_event",),
    ),
    LexerType(
        "return",
        "One return: the products given back, with negative prices and quantities.",
        Model(
            *TRANSACTION_FIELDS,
            required("return_id", Str()),
            required("products", ListOf(Model(
                optional("product_reference", PRODUCT_REFERENCE),
                required("price_paid", Float(le=0)),
                required("quantity", Int(le=-1)),
            ))),
        ),
        FieldKey("return_id"),
        "lexer_schemas/commerce_api/transaction_event.py (ReturnEvent), lexer_schemas/common.py",
        aliases=("return_event",),
    ),
    LexerType(
        "product",
        "A product on offer; product_reference_type names the field that identifies it.",
        Model(
            optional("product_id", Str()),
            optional("sku", Str()),
            optional("upc", Str()),
            defaulted("product_reference_type", PRODUCT_REFERENCE_TYPE, "product_id",
                      doc="which field identifies the product (default product_id)"),
            optional("name", Str()),
            optional("description", Str()),
            optional("brand", Str()),
            optional("size", Str()),
            optional("color", Str()),
            optional("price", Float()),
            optional("options", DictOf(ListOf(Str())), "e.g. {\"department\": [\"menswear\"]}"),
            optional("url", Str()),
            optional("images", ListOf(HttpUrl())),
            optional("availability", Model(
                required("available", Bool()),
                optional("channels_availability", ListOf(Model(
                    required("type", CHANNEL),
                    required("available", Bool()),
                    optional("published_at", DateTime()),
                    optional("unpublished_at", DateTime()),
                ))),
            )),
            optional("inventory", Model(
                optional("id", Str()),
                optional("source", Str()),
                optional("quantity", Int()),
                optional("cost", Float(ge=0)),
                optional("backorder_allowed", Bool()),
                optional("tracked", Bool()),
                optional("updated_at", DateTime()),
            )),
            rule=ReferenceRequired("product_reference_type", "product_id", PRODUCT_REFERENCE_TYPE.values),
        ),
        ReferenceKey("product_reference_type", "product_id"),
        "lexer_schemas/commerce_api/product_entity.py (ProductRecord)",
        aliases=("product_record",),
    ),
    LexerType(
        "email_send", "An email sent to a customer.",
        _email_event(optional("campaign_id", Str()), *_from_to(EMAIL_ADDRESS), optional("subject", Str()),
                     optional("body", Str())),
        FieldKey("email_id"), "lexer_schemas/marketing_api/email_event.py (EmailSend)",
    ),
    LexerType(
        "email_open", "A customer opened an email.",
        _email_event(optional("campaign_id", Str()), *_from_to(EMAIL_ADDRESS)),
        FieldKey("email_id"), "lexer_schemas/marketing_api/email_event.py (EmailOpen)",
    ),
    LexerType(
        "email_click", "A customer clicked a link in an email.",
        _email_event(optional("campaign_id", Str()), *_from_to(EMAIL_ADDRESS),
                     optional("clicked_link", Model(optional("name", Str()), optional("url", Str())))),
        FieldKey("email_id"), "lexer_schemas/marketing_api/email_event.py (EmailClick)",
    ),
    LexerType(
        "email_bounce", "An email to a customer bounced.",
        _email_event(*_from_to(EMAIL_ADDRESS)),
        FieldKey("email_id"), "lexer_schemas/marketing_api/email_event.py (EmailBounce)",
    ),
    LexerType(
        "email_subscribe", "A customer's email subscription changed.",
        _email_event(required("status", Enum("subscribed", "unsubscribed", "transactional", "undeliverable"))),
        FieldKey("email_id"), "lexer_schemas/marketing_api/email_event.py (EmailSubscribe)",
    ),
    LexerType(
        "sms_send", "An SMS sent to a customer.",
        _sms_event(optional("campaign_id", Str()), *_from_to(SMS_RECIPIENT), optional("body", Str())),
        FieldKey("sms_id"), "lexer_schemas/marketing_api/sms_event.py (SMSSend)",
    ),
    LexerType(
        "sms_click", "A customer clicked a link in an SMS.",
        _sms_event(optional("campaign_id", Str()), *_from_to(SMS_RECIPIENT)),
        FieldKey("sms_id"), "lexer_schemas/marketing_api/sms_event.py (SMSClick)",
    ),
    LexerType(
        "sms_subscribe", "A customer's SMS subscription changed.",
        _sms_event(required("status", Enum("subscribed", "unsubscribed", "transactional", "undeliverable",
                                           "list_subscribed", "list_unsubscribed"))),
        FieldKey("sms_id"), "lexer_schemas/marketing_api/sms_event.py (SMSSubscribe)",
    ),
)
