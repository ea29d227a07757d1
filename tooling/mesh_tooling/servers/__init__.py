"""Local servers for `./mesh up`, the tests and the benches: PostgreSQL and a Kafka broker."""
