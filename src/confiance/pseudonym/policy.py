"""Applying the schema's field policy to a normalised table."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pyarrow.compute as pc

from confiance.events import FIELD_POLICY, FieldTreatment
from confiance.pseudonym.keyed import IdentifierKind, Pseudonymiser


def _ip_literals(values: pa.Array) -> pa.Array:
    """True where a value (e.g. a URL host) is an IP address literal."""
    literal = []
    for value in pc.unique(values).drop_null().to_pylist():
        try:
            ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            continue
        literal.append(value)
    return pc.fill_null(pc.is_in(values, value_set=pa.array(literal, pa.string())), False)


def apply_policy(table: pa.Table, pseudonymiser: Pseudonymiser) -> pa.Table:
    """Replace every identifying field by its pseudonym, as FIELD_POLICY says."""
    for name, treatment in FIELD_POLICY.items():
        index = table.schema.get_field_index(name)
        column = table.column(index).combine_chunks()
        if treatment is FieldTreatment.PSEUDONYMISE_ACCOUNT:
            column = pseudonymiser.column(IdentifierKind.ACCOUNT, column)
        elif treatment is FieldTreatment.PSEUDONYMISE_IP:
            column = pseudonymiser.column(IdentifierKind.IP, column)
        elif treatment is FieldTreatment.PSEUDONYMISE_MAC:
            column = pseudonymiser.column(IdentifierKind.MAC, column)
        elif treatment is FieldTreatment.PSEUDONYMISE_EMAIL:
            column = pseudonymiser.column(IdentifierKind.EMAIL, column)
        elif treatment is FieldTreatment.PSEUDONYMISE_IF_IP:
            literal = _ip_literals(column)
            if pc.any(literal).as_py():
                ips = pc.if_else(literal, column, pa.scalar(None, pa.string()))
                column = pc.if_else(
                    literal,
                    pseudonymiser.column(IdentifierKind.IP, pc.utf8_trim(ips, "[]")),
                    column,
                )
        else:
            continue
        table = table.set_column(index, table.schema.field(name), column)
    return table
