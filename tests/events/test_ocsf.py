"""Normalised events as OCSF 1.1.0 objects: class, category, activity and
type_uid per class, endpoints, status, and nothing dropped (``unmapped``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from confiance.events import OcsfClass, conform
from confiance.events.ocsf import OCSF_VERSION, iter_ocsf, to_ocsf

WHEN = datetime(2026, 11, 22, 9, 15, 32, 123000, tzinfo=UTC)


def _row(ocsf: OcsfClass, **fields: Any) -> dict[str, Any]:
    return {
        "@timestamp": WHEN,
        "tenant": "academie",
        "event.dataset": "test",
        "ocsf.class_uid": int(ocsf),
        **fields,
    }


def test_an_authentication_failure() -> None:
    event = to_ocsf(
        _row(
            OcsfClass.AUTHENTICATION,
            **{
                "event.action": "AUTHENTICATION_FAILED",
                "event.outcome": "failure",
                "user.name": "u_ABCDEF",
                "source.ip": "n4_0a0b0c0d",
                "source.geo.country_iso_code": "FR",
                "source.as.number": 2200,
                "source.as.organization.name": "RENATER",
            },
        )
    )
    assert (event["class_uid"], event["category_uid"], event["activity_id"]) == (3002, 3, 1)
    assert event["type_uid"] == 300201
    assert (event["status_id"], event["status"]) == (2, "Failure")
    assert event["time"] == 1795338932123  # date -u -d 2026-11-22T09:15:32Z +%s, in ms
    assert event["user"] == {"name": "u_ABCDEF"}
    assert event["src_endpoint"] == {
        "ip": "n4_0a0b0c0d",
        "location": {"country": "FR"},
        "autonomous_system": {"number": 2200, "name": "RENATER"},
    }
    assert event["metadata"]["version"] == OCSF_VERSION == "1.1.0"
    assert event["metadata"]["labels"] == ["pseudonymised"]


def test_http_dns_network_and_email_activities() -> None:
    http = to_ocsf(
        _row(
            OcsfClass.HTTP_ACTIVITY,
            **{
                "http.request.method": "POST",
                "http.response.status_code": 302,
                "url.domain": "ent.ac-normandie.fr",
                "url.path": "/auth/login",
                "user_agent.original": "Mozilla/5.0",
                "event.outcome": "success",
            },
        )
    )
    assert (http["activity_id"], http["type_uid"]) == (6, 400206)  # Post
    assert http["http_request"] == {
        "http_method": "POST",
        "url": {"hostname": "ent.ac-normandie.fr", "path": "/auth/login"},
        "user_agent": "Mozilla/5.0",
    }
    assert http["http_response"] == {"code": 302}
    dns = to_ocsf(
        _row(
            OcsfClass.DNS_ACTIVITY,
            **{
                "dns.question.name": "example.org",
                "dns.question.type": "A",
                "dns.response_code": "NXDOMAIN",
            },
        )
    )
    assert (dns["activity_id"], dns["query"], dns["rcode"]) == (
        2,
        {"hostname": "example.org", "type": "A"},
        "NXDOMAIN",
    )
    flow = to_ocsf(
        _row(
            OcsfClass.NETWORK_ACTIVITY,
            **{
                "source.ip": "n4_01020304",
                "source.port": 51514,
                "destination.ip": "n4_05060708",
                "destination.port": 443,
                "network.transport": "tcp",
                "network.packets": 12,
                "source.bytes": 4512,
                "event.duration": 412_000_000,
                "event.action": ".AP.SF",
            },
        )
    )
    assert (flow["activity_id"], flow["type_uid"], flow["duration"]) == (6, 400106, 412)
    assert flow["traffic"] == {"packets": 12, "bytes_out": 4512}
    assert flow["dst_endpoint"] == {"ip": "n4_05060708", "port": 443}
    assert flow["connection_info"] == {"protocol_name": "tcp"}
    mail = to_ocsf(
        _row(
            OcsfClass.EMAIL_ACTIVITY,
            **{
                "email.from.address": "e_AAAA",
                "email.to.address": "e_BBBB",
                "email.from.domain": "x.fr",
            },
        )
    )
    assert mail["email"] == {"from": "e_AAAA", "to": ["e_BBBB"]}
    assert mail["unmapped"] == {"email.from.domain": "x.fr"}  # kept, under its ECS name


def test_a_whole_table() -> None:
    table = conform(
        pa.Table.from_pylist(
            [
                _row(OcsfClass.AUTHENTICATION, **{"event.outcome": "success"}),
                _row(OcsfClass.HTTP_ACTIVITY, **{"http.request.method": "BREW"}),
            ]
        )
    )
    events = list(iter_ocsf(table))
    assert [(e["class_uid"], e["activity_id"], e["status_id"]) for e in events] == [
        (3002, 1, 1),
        (4002, 99, 0),  # an unknown method is Other, an unknown outcome Unknown
    ]
