"""marketing/click_events: landed from Kafka topic `clicks` by micro-batches (see streams.py)."""

from mesh_marketing.streams import CLICKS

click_events = CLICKS.product_implementation()
