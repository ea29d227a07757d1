"""The marketing click-stream: Kafka topic `clicks`, landed into marketing/click_events."""

from platform_core.streaming import EventSchema, Stream, StreamKnobs

CLICK_EVENT = EventSchema(
    {
        "click_id": "integer",
        "tenant_id": "string",
        "campaign_id": "integer",
        "customer_id": "integer",
        "clicked_at": "timestamp",
    }
)

CLICKS = Stream(
    name="clicks",
    topic="clicks",
    product="marketing/click_events",
    schema=CLICK_EVENT,
    knobs=StreamKnobs(),
)
