"""One valid example record per record type, shared by unit and end-to-end tests."""

VALID = {
    "customer_record": (
        {
            "link": {"customer_id": "c-1", "email": "ada@example.com", "phone": "+61400000001"},
            "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "0400 000 001",
            "gender": "female", "date_of_birth": "1815-12-10",
            "address": {"line1": "1 Analytical St", "city": "Melbourne", "state": "VIC", "postcode": "3000",
                        "country": "AU"},
            "created_at": "2024-08-29T10:11:12Z", "attributes": {"vip": True},
        },
        "c-1",
    ),
    "product_record": (
        {
            "product_id": "p-1", "sku": "SKU-1", "name": "Teapot", "brand": "Acme", "category": "Kitchen",
            "price": 39.95, "currency": "AUD", "url": "https://shop.example.com/p-1",
            "image_url": "https://cdn.example.com/p-1.jpg", "in_stock": True,
        },
        "p-1",
    ),
    "purchase_event": (
        {
            "purchase_id": "order-1", "link": {"customer_id": "c-1"},
            "purchased_at": "2024-08-29T10:11:12.345+10:00", "channel": "in_store",
            "store": {"store_id": "s-1", "name": "Acme CBD", "location": {"name": "Melbourne CBD", "country": "AU",
                                                                         "latitude": -37.81, "longitude": 144.96}},
            "currency": "AUD", "subtotal": 89.9, "discount_total": 10, "total": 79.9,
            "discounts": [{"code": "SPRING10", "amount": 10}],
            "products": [{"product_id": "p-1", "sku": "SKU-1", "quantity": 2, "price": 39.95},
                         {"product_id": 2, "quantity": 0, "price": 10}],
        },
        "order-1",
    ),
    "return_event": (
        {
            "return_id": "ret-1", "link": {"email": "ada@example.com"}, "purchase_id": "order-1",
            "returned_at": "2024-09-01T09:00:00Z", "reason": "damaged", "currency": "AUD", "total": 39.95,
            "products": [{"product_id": "p-1", "quantity": 1, "price": 39.95, "reason": "chipped spout"}],
        },
        "ret-1",
    ),
    "email_send": (
        {"link": {"customer_id": "c-1"}, "campaign_id": "camp-1", "sent_at": "2024-08-29T10:00:00Z",
         "subject": "Spring sale"},
        '{"customer_id":"c-1"}|camp-1|2024-08-29T10:00:00Z',
    ),
    "email_open": (
        {"link": {"email": "ada@example.com"}, "campaign_id": 42, "opened_at": "2024-08-29T11:00:00Z"},
        '{"email":"ada@example.com"}|42|2024-08-29T11:00:00Z',
    ),
    "email_click": (
        {"link": {"customer_id": "c-1"}, "campaign_id": "camp-1", "clicked_at": "2024-08-29T11:05:00Z",
         "url": "https://shop.example.com/sale"},
        '{"customer_id":"c-1"}|camp-1|2024-08-29T11:05:00Z|https://shop.example.com/sale',
    ),
    "email_bounce": (
        {"link": {"email": "old@example.com"}, "campaign_id": "camp-1", "bounced_at": "2024-08-29T10:00:05Z",
         "bounce_type": "hard", "reason": "mailbox does not exist"},
        '{"email":"old@example.com"}|camp-1|2024-08-29T10:00:05Z|hard',
    ),
    "email_subscribe": (
        {"link": {"customer_id": "c-1"}, "list_id": "news", "subscribed_at": "2024-08-01T08:00:00Z",
         "status": "subscribed", "source": "checkout"},
        '{"customer_id":"c-1"}|news|2024-08-01T08:00:00Z|subscribed',
    ),
    "sms_send": (
        {"link": {"phone": "+61400000001"}, "campaign_id": "sms-1", "sent_at": "2024-08-29T10:00:00Z",
         "message": "Sale starts now"},
        '{"phone":"+61400000001"}|sms-1|2024-08-29T10:00:00Z',
    ),
    "sms_click": (
        {"link": {"phone": "+61400000001"}, "campaign_id": "sms-1", "clicked_at": "2024-08-29T10:03:00Z",
         "url": "https://shop.example.com/s"},
        '{"phone":"+61400000001"}|sms-1|2024-08-29T10:03:00Z|https://shop.example.com/s',
    ),
    "sms_subscribe": (
        {"link": {"customer_id": "c-1", "phone": "+61400000001"}, "list_id": 7,
         "subscribed_at": "2024-08-02T08:00:00Z", "status": "unsubscribed"},
        '{"customer_id":"c-1","phone":"+61400000001"}|7|2024-08-02T08:00:00Z|unsubscribed',
    ),
}
