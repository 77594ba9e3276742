"""One valid example record per record type and the key it is stored under, shared by unit and
end-to-end tests. Lexer's types: a link holds exactly one identifier; event ids are the keys."""

VALID = {
    "customer_record": (
        {
            "link": {"email": "Ada@Example.com"}, "first_name": "Ada", "last_name": "Lovelace",
            "email": "ada@example.com", "mobile": "61400000001", "gender": "female", "date_of_birth": "1815-12-10",
            "address_1": "1 Analytical St", "city": "Melbourne", "state": "VIC", "postcode": "3000",
            "country": "Australia", "customer_id": "c-1", "employee_flag": False, "custom_fields": {"vip": True},
        },
        "email:ada@example.com",
    ),
    "product": (
        {
            "product_id": "p-1", "sku": "SKU-1", "name": "Teapot", "brand": "Acme", "price": 39.95,
            "options": {"category": ["Kitchen"]}, "url": "https://shop.example.com/p-1",
            "images": ["https://cdn.example.com/p-1.jpg"], "availability": {"available": True},
        },
        "product_id:p-1",
    ),
    "purchase": (
        {
            "purchase_id": "order-1", "link": {"customer_id": "c-1"}, "action_at": "2024-08-29T10:11:12.345+10:00",
            "type": "physical", "currency": "AUD",
            "store": {"store_id": "s-1", "type": "physical", "name": "Acme CBD",
                      "location": {"name": "Melbourne CBD", "coordinate": {"latitude": -37.81, "longitude": 144.96}}},
            "payment_types": [{"name": "visa", "total": 79.9}],
            "adjustments": [{"price_adjustment": -10, "reason": "SPRING10"}],
            "products": [{"product_reference": {"id": "p-1", "id_type": "product_id"}, "quantity": 2,
                          "price_paid": 39.95},
                         {"product_reference": {"id": "SKU-2", "id_type": "sku"}, "quantity": 1, "price_paid": 0}],
        },
        "order-1",
    ),
    "return": (
        {
            "return_id": "ret-1", "link": {"email": "ada@example.com"}, "action_at": "2024-09-01T09:00:00Z",
            "type": "ecommerce", "currency": "AUD", "custom_fields": {"reason": "chipped spout"},
            "products": [{"product_reference": {"id": "p-1", "id_type": "product_id"}, "quantity": -1,
                          "price_paid": -39.95}],
        },
        "ret-1",
    ),
    "email_send": (
        {"link": {"customer_id": "c-1"}, "email_id": "send-1", "action_at": "2024-08-29T10:00:00Z",
         "campaign_id": "camp-1", "subject": "Spring sale"},
        "send-1",
    ),
    "email_open": (
        {"link": {"email": "ada@example.com"}, "email_id": "open-1", "action_at": "2024-08-29T11:00:00Z",
         "campaign_id": "camp-1"},
        "open-1",
    ),
    "email_click": (
        {"link": {"customer_id": "c-1"}, "email_id": "click-1", "action_at": "2024-08-29T11:05:00Z",
         "campaign_id": "camp-1", "clicked_link": {"name": "Sale", "url": "https://shop.example.com/sale"}},
        "click-1",
    ),
    "email_bounce": (
        {"link": {"email": "old@example.com"}, "email_id": "bounce-1", "action_at": "2024-08-29T10:00:05Z",
         "to": {"email": "old@example.com"}},
        "bounce-1",
    ),
    "email_subscribe": (
        {"link": {"customer_id": "c-1"}, "email_id": "sub-1", "action_at": "2024-08-01T08:00:00Z",
         "status": "subscribed", "list": {"id": "news", "name": "Newsletter"}},
        "sub-1",
    ),
    "sms_send": (
        {"link": {"mobile": "61400000001"}, "sms_id": "sms-send-1", "action_at": "2024-08-29T10:00:00Z",
         "campaign_id": "sms-1", "body": "Sale starts now"},
        "sms-send-1",
    ),
    "sms_click": (
        {"link": {"mobile": "61400000001"}, "sms_id": "sms-click-1", "action_at": "2024-08-29T10:03:00Z",
         "campaign_id": "sms-1"},
        "sms-click-1",
    ),
    "sms_subscribe": (
        {"link": {"customer_id": "c-1", "system_name": "pos"}, "sms_id": "sms-sub-1",
         "action_at": "2024-08-02T08:00:00Z", "status": "unsubscribed"},
        "sms-sub-1",
    ),
}
