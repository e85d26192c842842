"""The normalised event schema shared by every other package.

Field names follow the Elastic Common Schema as flat Arrow columns; an OCSF
``class_uid`` column routes events by class (authentication, network, HTTP…).
"""

from confiance.events.schema import (
    DICTIONARY_COLUMNS,
    EVENT_SCHEMA,
    FIELD_POLICY,
    FieldTreatment,
    OcsfClass,
    conform,
    empty_table,
    read_events,
    return_freed_memory,
)

__all__ = [
    "DICTIONARY_COLUMNS",
    "EVENT_SCHEMA",
    "FIELD_POLICY",
    "FieldTreatment",
    "OcsfClass",
    "conform",
    "empty_table",
    "read_events",
    "return_freed_memory",
]
