"""Sample sources: deterministic data, tenant databases seeded from it, the click producer."""
