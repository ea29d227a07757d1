"""Every rule of the gate. Importing this package registers them (ids are stable: never
renumber; retire an id rather than reuse it). Each module holds one family of rules."""

from governance.rules import (  # noqa: F401
    boundaries,
    catalog,
    dbt,
    dependencies,
    deprecation,
    manifests,
    secrets,
)
