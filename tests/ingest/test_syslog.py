"""Syslog streams of many programs: RFC 5424 and RFC 3164 messages, as a mixed
syslog file or as the receiver spools them, each read by its program's parser."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import PARSERS, ParseContext
from confiance.ingest.recognition import recognise
from confiance.ingest.syslog import SyslogMessages, relay_lines

VECTORS = Path(__file__).parents[1] / "vectors" / "syslog"
CONTEXT = ParseContext(
    tenant="t", service="syslog", geo=DEMO_GEO, now=datetime(2026, 11, 23, tzinfo=UTC)
)


def _vectors(name: str) -> list[str]:
    text = (VECTORS / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _syslog() -> SyslogMessages:
    parser = PARSERS["syslog"]
    assert isinstance(parser, SyslogMessages)
    return parser


def test_rfc5424_examples_become_syslog_file_lines() -> None:
    lines, bad = _syslog().lines(pa.array(_vectors("rfc5424-examples.txt")))
    assert bad == []
    assert lines.to_pylist() == [
        # the BOM before MSG is not part of the text
        "2003-10-11T22:14:15.003Z mymachine.example.com su: "
        "'su root' failed for lonvick on /dev/pts/8",
        # PROCID becomes the tag's [pid]
        "2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc[8710]: "
        "%% It's time to make the do-nuts.",
        "2003-10-11T22:14:15.003Z mymachine.example.com evntslog: "
        "An application event log entry...",
        # structured data only, no MSG
        "2003-10-11T22:14:15.003Z mymachine.example.com evntslog: ",
    ]


def test_rfc3164_examples_keep_their_header_or_are_refused_without_one() -> None:
    lines, bad = _syslog().lines(pa.array(_vectors("rfc3164-examples.txt")))
    messages = _vectors("rfc3164-examples.txt")
    # the third is read as §5.4 says a relay reads it: HOSTNAME "CST", the rest content
    assert lines.to_pylist()[:3] == [m.partition(">")[2] for m in messages[:3]]
    # the fourth starts with a year: in a file nobody relayed it, it has no header
    assert bad == [(3, "no syslog header (time, host, program)")]


def test_a_relay_gives_headerless_messages_its_time_and_the_senders_address() -> None:
    received = datetime(2026, 11, 22, 9, 0, 0, 250000, tzinfo=UTC)
    messages = [*_vectors("rfc3164-examples.txt"), "<14>1 - host app - - - nil time", "x\ny"]
    peers = ["192.0.2.10"] * len(messages)
    relayed = relay_lines(pa.array(messages), pa.array(peers), received=received).to_pylist()
    assert relayed[0] == messages[0] and relayed[1] == messages[1]
    assert relayed[2] == messages[2]
    assert relayed[3] == "<0>2026-11-22T09:00:00.250000Z 192.0.2.10 1990 Oct 22 10:52:01 " + (
        "TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!"
    )
    assert relayed[4] == "<14>1 2026-11-22T09:00:00.250000Z host app - - - nil time"
    # a line break inside a message is written as rsyslog writes it
    assert relayed[5] == "2026-11-22T09:00:00.250000Z 192.0.2.10 x#012y"
    assert _syslog().lines(pa.array(relayed))[1] == []


MIXED = """\
<38>1 2026-11-22T10:15:32.123456+01:00 bastion sshd 24680 - - Failed password for root \
from 95.165.3.4 port 52211 ssh2
Nov 22 10:15:33 fw1 kernel: [ 8123.456789] FW-DROP: IN=eth0 OUT= SRC=95.165.3.4 DST=10.3.0.1 \
LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51514 DPT=22 WINDOW=29200 RES=0x00 \
SYN URGP=0
<22>Nov 22 10:15:34 mx1 postfix/smtpd[1250]: warning: unknown[95.165.3.4]: SASL LOGIN \
authentication failed: UGFzc3dvcmQ6, sasl_username=claire.durand
Nov 22 10:15:35 bastion CRON[311]: (root) CMD (run-parts /etc/cron.hourly)
Nov 22 10:15:36 bastion sshd[24681]: Connection closed by 95.165.3.4 port 52211 [preauth]
<190>1 2026-11-22T10:15:37Z resolver unbound 812 - - [812:0] info: 10.3.14.22 example.org. A IN
<999>1 2026-11-22T10:15:38Z h sshd - - - priority out of range
<38>1 2026-22-11T10:15:39Z h sshd - - - month 22
no header at all
"""


def test_a_mixed_syslog_file_reads_each_program_with_its_parser(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_text(MIXED)
    parsed = parse_file(path, format="syslog", context=CONTEXT)
    rows = sorted(parsed.table.to_pylist(), key=lambda r: r["@timestamp"])
    assert [r["event.dataset"] for r in rows] == ["openssh", "netfilter", "postfix", "unbound"]
    ssh = rows[0]
    assert ssh["@timestamp"] == datetime(2026, 11, 22, 9, 15, 32, 123456, tzinfo=UTC)
    assert (ssh["user.name"], ssh["event.outcome"], ssh["source.ip"]) == (
        "root",
        "failure",
        "95.165.3.4",
    )
    assert rows[1]["rule.name"] == "FW-DROP"
    assert rows[2]["user.name"] == "claire.durand"
    assert rows[3]["dns.question.name"] == "example.org"
    assert parsed.ignored == {
        "message of CRON, a program no parser reads": 1,
        "sshd line that records no authentication outcome": 1,
    }
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (7, "field PRI: above 191 (RFC 5424 §6.2.1)"),
        (8, "field TIMESTAMP: not an RFC 3339 time"),
        (9, "no syslog header (time, host, program)"),
    ]
    # several programs: recognised as syslog, not as one program's log
    assert recognise(path) == "syslog"


def test_a_one_program_log_is_still_recognised_as_that_program(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(
        "Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from "
        "119.137.62.142 port 49116 ssh2\n"
    )
    assert recognise(path) == "openssh"


def test_routes_must_name_known_formats() -> None:
    with pytest.raises(ValueError, match="syslog routes name unknown formats: nope"):
        SyslogMessages(PARSERS, {"sshd": "nope"})


def test_a_program_family_is_routed_by_its_first_name() -> None:
    parser = _syslog()
    assert parser.route("postfix/smtpd") == "postfix"
    assert parser.route("sshd") == "openssh"
    assert parser.route("cron") is None


def test_routes_can_be_given_as_an_option(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_text(
        "Nov 22 10:15:36 dmz sshd-dmz[7]: Failed password for root from 95.165.3.4 port 1 ssh2\n"
    )
    routed = ParseContext(
        tenant="t",
        service="s",
        geo=DEMO_GEO,
        now=datetime(2026, 11, 23, tzinfo=UTC),
        options={"routes": "sshd-dmz=openssh"},
    )
    assert parse_file(path, format="syslog", context=CONTEXT).table.num_rows == 0
    assert parse_file(path, format="syslog", context=routed).table.num_rows == 1


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ("named", "expected PROGRAM=FORMAT"),
        ("named=nope", "expected PROGRAM=FORMAT with a known format"),
        ("x=syslog", "cannot be routed to syslog itself"),
    ],
)
def test_bad_routes_are_refused(routes: str, message: str) -> None:
    from confiance.errors import IngestError
    from confiance.ingest.parsers import check_options

    with pytest.raises(IngestError, match=message):
        check_options("syslog", {"routes": routes})


def test_openssh_9_8_logs_as_sshd_session(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(
        "Nov 22 10:15:36 bastion sshd-session[2411]: Accepted publickey for admin from "
        "193.48.10.4 port 50122 ssh2: ED25519 SHA256:abc\n"
    )
    for fmt in ("openssh", "syslog"):
        (row,) = parse_file(path, format=fmt, context=CONTEXT).table.to_pylist()
        assert (row["user.name"], row["event.outcome"]) == ("admin", "success")
