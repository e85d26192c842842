"""Synthetic logs of a school week for the four sources, with injected attacks.

Output is in the real formats the ingest parsers read (Keycloak JSON events,
Apache combined, Squid native, nfdump CSV); the attacks are listed in a
ground-truth file. Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from confiance.detect.dns import BASELINE_DAYS
from confiance.errors import ConfigError

PARIS = ZoneInfo("Europe/Paris")
WEEK_START = datetime(2026, 9, 14, tzinfo=PARIS)  # a Monday of the school year
MIN_EVENTS = 10_000

#: Each source: (tenant, file under inputs/<tenant>/, format, share of events).
SOURCES = {
    "sso": ("academie", "ent-sso.jsonl", "keycloak-json", 0.32),
    "web": ("region", "portail-access.log", "apache-combined", 0.18),
    "proxy": ("lycees", "squid-access.log", "squid", 0.22),
    "dns": ("reseau", "resolver-query.log", "bind-querylog", 0.12),
    "flows": ("reseau", "flows.csv", "nfdump-csv", 0.12),
    "mail": ("academie", "mail.log", "postfix", 0.04),
    # one receiver's daily DMARC report for the Académie's domain (its records only)
    "dmarc": ("academie", "dmarc-aggregate.xml", "dmarc-aggregate", 0.0),
}
#: the consortium's own mail domains (the Académie's and the Région's)
OWN_DOMAINS = ("ac-normandie.fr", "normandie.fr")
_SENDER_DOMAINS = (
    "gmail.com", "laposte.net", "orange.fr", "free.fr", "education.gouv.fr", "normandie.fr",
    "ac-normandie.fr", "tourisme-normandie.fr", "ac-rouen.fr", "onisep.fr", "index-education.com",
    "calvados.fr", "cned.fr", "ouest-france.fr",
)  # fmt: skip
_BENIGN_ATTACHMENTS = ("pdf", "pdf", "pdf", "docx", "xlsx", "odt", "jpg", "png", "zip", "pptx")
#: the day of the DMARC report (a Wednesday), in UTC as receivers report
DMARC_DAY = datetime(2026, 9, 16, tzinfo=UTC)

_FIRST = [
    "lea",
    "emma",
    "jade",
    "louise",
    "alice",
    "chloe",
    "lina",
    "rose",
    "anna",
    "mila",
    "ambre",
    "julia",
    "ines",
    "lou",
    "zoe",
    "gabriel",
    "louis",
    "raphael",
    "jules",
    "adam",
    "lucas",
    "leo",
    "hugo",
    "arthur",
    "nathan",
    "paul",
    "tom",
    "noah",
    "ethan",
    "sacha",
    "maxime",
    "camille",
    "manon",
    "sarah",
    "clara",
    "eva",
    "lucie",
    "marie",
    "thomas",
    "antoine",
    "nicolas",
]
_LAST = [
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "simon",
    "laurent",
    "lefebvre",
    "michel",
    "garcia",
    "david",
    "bertrand",
    "roux",
    "vincent",
    "fournier",
    "morel",
    "girard",
    "andre",
    "lefevre",
    "mercier",
    "dupont",
    "lambert",
    "bonnet",
    "francois",
    "martinez",
    "legrand",
    "garnier",
    "faure",
    "rousseau",
]
_HOME_NETS = (("86.192", 0.35), ("90.0", 0.30), ("92.128", 0.25), ("78.192", 0.10))
_FOREIGN = ("41.58", "95.165", "177.32", "113.160")
_DOMAINS = [
    "www.education.gouv.fr",
    "fr.wikipedia.org",
    "www.google.fr",
    "www.youtube.com",
    "www.lemonde.fr",
    "pronote.index-education.net",
    "www.qwant.com",
    "www.larousse.fr",
    "www.onisep.fr",
    "www.khanacademy.org",
    "www.geogebra.org",
    "cdn.jsdelivr.net",
    "www.ouest-france.fr",
    "www.service-public.fr",
    "www.instagram.com",
]
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/128.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/17.6 Safari",
)
_NFDUMP_HEADER = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,"
    "dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,"
    "mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr"
)
#: what web scanners ask for (paths of exposed admin pages, leaked files, traversal)
_PROBES = (
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php",
    "/cgi-bin/../../../../etc/passwd",
    "/server-status",
    "/actuator/health",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/.aws/credentials",
    "/xmlrpc.php",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/manager/html",
)
#: pages of the region's portal its users visit
_PORTAL_PAGES = (
    "/",
    "/aides/lycees",
    "/transports/carte",
    "/marches-publics",
    "/agents/conges",
    "/static/app.js",
    "/api/notifications",
)
#: what a forced-browsing word list tries (no known probe path among them)
_WORDS = (
    "backup", "old", "test", "dev", "tmp", "archive", "docs", "uploads", "files", "private",
    "internal", "staging", "beta", "export", "data", "db", "sql", "logs", "bak", "site",
    "new", "v1", "v2", "api-old", "intranet", "extranet", "partage", "sauvegarde", "compta",
)  # fmt: skip
_WORD_ENDINGS = ("", "/", ".bak", ".zip", ".old", ".txt", ".json", ".tar.gz", ".sql")
#: domains registered for an attack this week (at most four injected)
_NEW_DOMAINS = [
    "pronote-connexion-securisee.example",
    "ent-normandie-verification.example",
    "maj-navigateur-lycee.example",
    "bourse-lycee-normandie.example",
]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True)
class Attack:
    """One injected attack: what a perfect detector would report."""

    id: str
    type: str
    tenants: list[str]
    entity_kind: str  # "ip" or "account"
    entity: str
    start: str
    end: str
    description: str
    #: the attacker's addresses: events from them within [start, end] are the attack's
    sources: list[str] = field(default_factory=list)


@dataclass
class GenerationSummary:
    seed: int
    events: int
    files: dict[str, str]
    per_source: dict[str, int]
    malformed: dict[str, int]
    attacks: list[Attack] = field(default_factory=list)


@dataclass(frozen=True)
class _User:
    name: str
    home_ip: str
    school: int


class _World:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.schools = 12
        names: set[str] = set()
        while len(names) < 2600:
            base = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}"
            names.add(base if base not in names else f"{base}{rng.randint(2, 99)}")
        ordered = sorted(names)
        rng.shuffle(ordered)
        self.academie = [self._user(n) for n in ordered[:2400]]
        shared = self.academie[:200]  # teachers with an account at both
        self.region = shared + [self._user(n) for n in ordered[2400:2600]]
        self.used_ips: set[str] = set()

    def _user(self, name: str) -> _User:
        return _User(name, self.home_ip(), self.rng.randrange(self.schools))

    def home_ip(self) -> str:
        r, acc = self.rng.random(), 0.0
        prefix = _HOME_NETS[-1][0]
        for candidate, weight in _HOME_NETS:
            acc += weight
            if r <= acc:
                prefix = candidate
                break
        return f"{prefix}.{self.rng.randint(1, 254)}.{self.rng.randint(1, 254)}"

    def nat_ip(self, school: int) -> str:
        return f"193.48.{10 + school}.{1 + school % 3}"

    def client_ip(self, school: int) -> str:
        return f"10.{school + 1}.{self.rng.randint(0, 15)}.{self.rng.randint(2, 250)}"

    def foreign_ip(self, prefix: str | None = None) -> str:
        prefix = prefix or self.rng.choice(_FOREIGN)
        while True:
            ip = f"{prefix}.{self.rng.randint(1, 254)}.{self.rng.randint(1, 254)}"
            if ip not in self.used_ips:
                self.used_ips.add(ip)
                return ip

    def habit_time(self, user: _User) -> datetime:
        """A moment of the week when this person works: each has hours of their own."""
        rng = self.rng
        day = rng.choices(range(7), weights=(10, 10, 7, 10, 9, 3, 3))[0]
        windows = habits(user.name)
        start, length = rng.choices(windows, weights=[w[2] for w in windows])[0][:2]
        return WEEK_START + timedelta(days=day, hours=start + rng.uniform(0, length))

    def busy_time(self, *, school_hours: bool = False) -> datetime:
        """A plausible moment of the week: weekday daytime and evenings."""
        rng = self.rng
        day = rng.choices(range(7), weights=(10, 10, 7, 10, 9, 3, 3))[0]
        if school_hours and day < 5:
            hour = rng.uniform(8, 17.5)
        else:
            hour = rng.choices(
                (rng.uniform(7, 12), rng.uniform(12, 18), rng.uniform(18, 23), rng.uniform(0, 7)),
                weights=(30, 35, 30, 5),
            )[0]
        return WEEK_START + timedelta(days=day, hours=hour)


def habits(name: str) -> list[tuple[float, float, float]]:
    """A person's working hours: (start, length, weight) windows, local time.

    Drawn from the name alone (not the week's random stream): half work by
    day only; four in ten also in the evening (the school portal's evening
    peak: homework, marks, papers to correct); one in twenty are night owls
    working past midnight; a few work at any hour (IT staff, shift workers).
    """
    rng = random.Random("habits:" + name)
    day = (rng.uniform(7, 9.5), rng.uniform(8, 10.5), 1.0)
    kind = rng.random()
    if kind < 0.50:
        return [day]
    if kind < 0.92:
        return [day, (rng.uniform(18, 20.5), rng.uniform(1.5, 3), 0.4)]
    if kind < 0.97:
        return [(rng.uniform(21, 23), rng.uniform(3, 5), 1.0), (day[0], day[1], 0.3)]
    return [(0.0, 24.0, 1.0)]


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _keycloak(t: datetime, user: str, ip: str, ok: bool, known: bool = True) -> str:
    event: dict[str, object] = {
        "time": _ms(t),
        "type": "LOGIN" if ok else "LOGIN_ERROR",
        "realmId": "ent",
        "clientId": "ent-portail",
        "ipAddress": ip,
        "details": {
            "auth_method": "openid-connect",
            "username": user,
            "redirect_uri": "https://ent.example.fr/",
        },
    }
    if known:
        event["userId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "ent:" + user))
    if not ok:
        event["error"] = "invalid_user_credentials" if known else "user_not_found"
    return json.dumps(event, separators=(",", ":"))


def _apache(
    t: datetime,
    ip: str,
    user: str | None,
    method: str,
    path: str,
    status: int,
    size: int,
    agent: str,
) -> str:
    local = t.astimezone(PARIS)
    offset = local.strftime("%z")
    stamp = f"{local.day:02d}/{_MONTHS[local.month - 1]}/{local.year}:{local:%H:%M:%S} {offset}"
    return (
        f'{ip} - {user or "-"} [{stamp}] "{method} {path} HTTP/1.1" {status} {size} '
        f'"https://portail.region.example.fr/" "{agent}"'
    )


def _squid(
    t: datetime, client: str, user: str | None, url: str, code: int, size: int, peer: str
) -> str:
    action = "TCP_MISS" if code < 400 else "TCP_DENIED"
    method = "CONNECT" if url.endswith(":443") else "GET"
    ctype = "-" if method == "CONNECT" else "text/html"
    return (
        f"{t.timestamp():.3f} {187:>6} {client} {action}/{code} {size} {method} {url} "
        f"{user or '-'} HIER_DIRECT/{peer} {ctype}"
    )


def _bind(t: datetime, client: str, qname: str, qtype: str, port: int) -> str:
    local = t.astimezone(PARIS)
    stamp = f"{local.day:02d}-{_MONTHS[local.month - 1]}-{local.year} {local:%H:%M:%S}"
    return (
        f"{stamp}.{local.microsecond // 1000:03d} client @0x7fa0d607f200 {client}#{port} "
        f"({qname}): query: {qname} IN {qtype} +E(0)K (172.16.0.53)"
    )


def _postfix(t: datetime, program: str, message: str) -> str:
    """A Postfix line with rsyslog's RFC 3339 time (Debian's default)."""
    stamp = t.astimezone(PARIS).isoformat(timespec="microseconds")
    return f"{stamp} mx1 postfix/{program}[{1000 + int(t.timestamp()) % 9000}]: {message}"


def _dmarc_record(ip: str, count: int, disposition: str, dkim: str, spf: str) -> str:
    return (
        f"  <record>\n    <row>\n      <source_ip>{ip}</source_ip>\n      <count>{count}</count>\n"
        f"      <policy_evaluated><disposition>{disposition}</disposition><dkim>{dkim}</dkim>"
        f"<spf>{spf}</spf></policy_evaluated>\n    </row>\n"
        f"    <identifiers><header_from>{OWN_DOMAINS[0]}</header_from></identifiers>\n"
        "  </record>"
    )


def _dmarc_report(records: list[str]) -> str:
    begin = int(DMARC_DAY.timestamp())
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<feedback>\n  <report_metadata>\n'
        "    <org_name>receiver.example</org_name>\n"
        "    <email>noreply-dmarc@receiver.example</email>\n"
        f"    <report_id>{begin}.{OWN_DOMAINS[0]}</report_id>\n"
        f"    <date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>\n"
        "  </report_metadata>\n  <policy_published>\n"
        f"    <domain>{OWN_DOMAINS[0]}</domain><p>none</p><pct>100</pct>\n"
        "  </policy_published>\n" + "\n".join(records) + "\n</feedback>\n"
    )


def _flow(
    t: datetime,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    proto: str,
    flags: str,
    packets: int,
    size: int,
    duration: float,
) -> str:
    local = t.astimezone(PARIS)
    end = local + timedelta(seconds=duration)
    # in … dir, nh, nhb, svln, dvln, four MACs, ten MPLS labels, cl sl al, ra eng exid tr
    rest = ",".join(
        ["0"] * 8
        + ["0.0.0.0"] * 2
        + ["0"] * 2
        + ["00:00:00:00:00:00"] * 4
        + ["0-0-0"] * 10
        + ["0.000"] * 3
        + ["172.16.0.1", "0/0", "0", f"{end:%Y-%m-%d %H:%M:%S}"]
    )
    return (
        f"{local:%Y-%m-%d %H:%M:%S},{end:%Y-%m-%d %H:%M:%S},{duration:.3f},{src},{dst},"
        f"{sport},{dport},{proto},{flags},0,0,{packets},{size},0,0,{rest}"
    )


Record = tuple[datetime, str]


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.world = _World(self.rng)
        self.records: dict[str, list[Record]] = {s: [] for s in SOURCES}
        self.attacks: list[Attack] = []
        #: command servers the beacons call, which a CERT's feed lists
        self.c2: list[str] = []
        #: domains attacks bring into DNS, with the times they are queried
        self.new_domains: dict[str, list[datetime]] = {}

    # -- attacks ---------------------------------------------------------
    def _attack(
        self,
        kind: str,
        tenants: list[str],
        entity_kind: str,
        entity: str,
        start: datetime,
        end: datetime,
        description: str,
        sources: list[str] | None = None,
    ) -> None:
        number = sum(1 for a in self.attacks if a.type == kind) + 1
        self.attacks.append(
            Attack(
                f"{kind}-{number}",
                kind,
                sorted(tenants),
                entity_kind,
                entity,
                _iso(start),
                _iso(end),
                description,
                sorted(sources) if sources is not None else [entity],
            )
        )

    def spraying(
        self, *, both: bool, ip: str | None = None, start: datetime | None = None
    ) -> datetime:
        w, rng = self.world, self.rng
        ip = ip or w.foreign_ip()
        start = start or WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(1, 20))
        targets = [("sso", u.name) for u in rng.sample(w.academie, 90)]
        targets += [
            ("sso", f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randint(100, 999)}")
            for _ in range(15)
        ]  # accounts that do not exist
        if both:
            targets += [("web", u.name) for u in rng.sample(w.region, 60)]
        rng.shuffle(targets)
        t = start
        for source, user in targets:
            for _ in range(rng.choice((1, 1, 2))):
                t += timedelta(seconds=rng.uniform(8, 25))
                self._login(
                    source,
                    t,
                    user,
                    ip,
                    ok=False,
                    agent="python-requests/2.32.3",
                    known=not user[-3:].isdigit(),
                )
        tenants = ["academie", "region"] if both else ["academie"]
        self._attack(
            "password_spraying",
            tenants,
            "ip",
            ip,
            start,
            t,
            f"one address tries a few passwords on {len(targets)} accounts",
        )
        return t

    def brute_force(self, source: str) -> None:
        w, rng = self.world, self.rng
        user = rng.choice(w.academie if source == "sso" else w.region).name
        ip = w.foreign_ip()
        start = WEEK_START + timedelta(days=rng.randint(0, 6), hours=rng.uniform(0, 23))
        t = start
        for _ in range(rng.randint(40, 100)):
            t += timedelta(seconds=rng.uniform(2, 8))
            self._login(source, t, user, ip, ok=False, agent="Hydra")
        tenant = SOURCES[source][0]
        self._attack(
            "brute_force",
            [tenant],
            "account",
            user,
            start,
            t,
            "many failed passwords on one account in minutes",
            [ip],
        )

    def port_scan(
        self,
        *,
        horizontal: bool,
        internal: bool,
        src: str | None = None,
        start: datetime | None = None,
    ) -> datetime:
        w, rng = self.world, self.rng
        src = src or (w.client_ip(rng.randrange(w.schools)) if internal else w.foreign_ip("95.165"))
        start = start or WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(0, 23))
        t = start
        if horizontal:
            targets = [(f"172.16.{rng.randint(1, 9)}.{h}", 445) for h in range(1, 255)]
        else:
            host = f"172.16.{rng.randint(1, 9)}.{rng.randint(2, 250)}"
            targets = [(host, p) for p in sorted(rng.sample(range(1, 10000), 400))]
        for dst, port in targets:
            t += timedelta(milliseconds=rng.uniform(50, 600))
            self.records["flows"].append(
                (t, _flow(t, src, dst, rng.randint(40000, 65000), port, "TCP", "....S.", 1, 44, 0))
            )
        kind = "horizontal" if horizontal else "vertical"
        self._attack(
            "port_scan",
            ["reseau"],
            "ip",
            src,
            start,
            t,
            f"{kind} scan of {len(targets)} address:port pairs",
        )
        return t

    def syn_flood(self) -> None:
        """A botnet's SYN flood on the region's portal: unanswered attempts from
        a hundred addresses within two minutes."""
        w, rng = self.world, self.rng
        target = f"172.16.{rng.randint(1, 9)}.{rng.randint(2, 250)}"
        start = WEEK_START + timedelta(days=rng.randint(0, 6), hours=rng.uniform(0, 23))
        bots = [w.foreign_ip() for _ in range(100)]
        last = start
        for bot in bots:
            for _ in range(15):
                t = start + timedelta(seconds=rng.uniform(0, 120))
                last = max(last, t)
                sport = rng.randint(1024, 65000)
                flow = _flow(t, bot, target, sport, 443, "TCP", "....S.", 1, 44, 0)
                self.records["flows"].append((t, flow))
        self._attack(
            "syn_flood",
            ["reseau"],
            "ip",
            target,
            start,
            last,
            "1,500 unanswered connection attempts on the portal from 100 addresses in 2 minutes",
            bots,
        )

    def impossible_travel(self) -> None:
        w, rng = self.world, self.rng
        user = rng.choice(w.academie)
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(8, 20))
        self._login("sso", start, user.name, user.home_ip, ok=True)
        later = start + timedelta(minutes=rng.uniform(4, 30))
        thief = w.foreign_ip(rng.choice(("113.160", "177.32")))
        self._login("sso", later, user.name, thief, ok=True)
        self._attack(
            "impossible_travel",
            ["academie"],
            "account",
            user.name,
            start,
            later,
            "two successful logins from places thousands of km apart within minutes",
            [thief],
        )

    def new_country(self) -> None:
        """Stolen credentials used quietly: an account with days of logins from
        home, then one clean login from abroad, long after its last one."""
        w, rng = self.world, self.rng
        # an account of its own, out of the background's reach: its whole
        # history is the one written here (a background login from home soon
        # after the one abroad would be impossible travel too)
        user = w._user(f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}.{rng.randint(10, 99)}")
        t = WEEK_START
        for day in range(3):
            t = WEEK_START + timedelta(days=day, hours=rng.uniform(7, 21))
            self._login("sso", t, user.name, user.home_ip, ok=True)
        later = t + timedelta(days=1, hours=rng.uniform(2, 12))
        abroad = w.foreign_ip(rng.choice(("177.32", "113.160", "41.58")))
        self._login("sso", later, user.name, abroad, ok=True)
        self._attack(
            "new_country",
            ["academie"],
            "account",
            user.name,
            later,
            later,
            "a clean login from a country the account never used, a day after its last",
            [abroad],
        )

    def unusual_hour(self) -> None:
        """A day worker's password used in the dead of night from a French VPS:
        no failure, no foreign country, only the hour gives it away."""
        w, rng = self.world, self.rng
        user = w._user(f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}.{rng.randint(100, 999)}")
        begin = rng.uniform(8, 9.5)  # so the night login is ≥ 3 h from any of them
        for day in range(5):  # a working week, two or three logins a day
            for _ in range(rng.choice((2, 3))):
                t = WEEK_START + timedelta(days=day, hours=begin + rng.uniform(0, 9))
                at_school = rng.random() < 0.6
                self._login(
                    "sso",
                    t,
                    user.name,
                    w.nat_ip(user.school) if at_school else user.home_ip,
                    ok=True,
                )
        night = WEEK_START + timedelta(days=rng.choice((5, 6)), hours=rng.uniform(2.5, 5))
        vps = w.foreign_ip("51.68")
        self._login("sso", night, user.name, vps, ok=True)
        self._attack(
            "unusual_hour",
            ["academie"],
            "account",
            user.name,
            night,
            night,
            "a login at night, from France, on an account that only ever works by day",
            [vps],
        )

    def concurrent_sessions(self) -> None:
        """A portal session stolen and used from abroad while its owner still works in it."""
        w, rng = self.world, self.rng
        user = w._user(f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}.{rng.randint(100, 999)}")
        agent = rng.choice(_AGENTS)
        for day in range(3):  # the owner's ordinary days
            t = WEEK_START + timedelta(days=day, hours=rng.uniform(8, 16))
            self._portal_visit(t, user.name, user.home_ip, agent, rng.randint(3, 8))
        start = WEEK_START + timedelta(days=rng.randint(3, 5), hours=rng.uniform(8, 15))
        thief = w.foreign_ip(rng.choice(("177.32", "113.160", "41.58")))
        stolen = start + timedelta(minutes=rng.uniform(10, 25))
        end = self._portal_visit(start, user.name, user.home_ip, agent, 40, gap=(60, 150))
        end = max(
            end, self._portal_visit(stolen, user.name, thief, "Mozilla/5.0", 25, gap=(30, 120))
        )
        for kind in ("concurrent_sessions", "impossible_travel"):  # both, by nature
            self._attack(
                kind,
                ["region"],
                "account",
                user.name,
                start,
                end if kind == "concurrent_sessions" else stolen,
                "a session used from abroad while its owner still works in it at home",
                [thief],
            )

    def _portal_visit(
        self,
        t: datetime,
        user: str,
        ip: str,
        agent: str,
        pages: int,
        gap: tuple[float, float] = (5, 90),
    ) -> datetime:
        """A login to the region's portal, then ``pages`` pages; the time of the last."""
        self._login("web", t, user, ip, ok=True, agent=agent)
        for _ in range(pages):
            t += timedelta(seconds=self.rng.uniform(*gap))
            path = self.rng.choice(_PORTAL_PAGES)
            self.records["web"].append(
                (t, _apache(t, ip, user, "GET", path, 200, self.rng.randint(300, 90000), agent))
            )
        return t

    def failure_then_success(self, user: str | None = None) -> tuple[str, datetime]:
        """Guessing that works: a run of failures, then a login, from a French VPS."""
        w, rng = self.world, self.rng
        user = user or rng.choice(w.academie).name
        ip = w.foreign_ip("51.68")  # a hosting provider in France: no impossible travel
        start = WEEK_START + timedelta(days=rng.randint(0, 6), hours=rng.uniform(0, 23))
        t = start
        for _ in range(rng.randint(8, 15)):
            t += timedelta(seconds=rng.uniform(10, 60))
            self._login("sso", t, user, ip, ok=False, agent="python-requests/2.32.3")
        t += timedelta(seconds=rng.uniform(10, 60))
        self._login("sso", t, user, ip, ok=True)
        self._attack(
            "failure_then_success",
            ["academie"],
            "account",
            user,
            start,
            t,
            "failed passwords then a successful login from the same source",
            [ip],
        )
        return ip, t

    def credential_stuffing(self) -> None:
        """A leaked list tried from a botnet: each address a few accounts, all failing."""
        w, rng = self.world, self.rng
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(1, 20))
        span = rng.uniform(50, 90) * 60
        leaked = [u.name for u in rng.sample(w.academie, 120)]
        leaked += [
            f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randint(100, 999)}" for _ in range(40)
        ]
        rng.shuffle(leaked)
        last, bots = start, []
        for number in range(40):
            ip = w.foreign_ip(rng.choice((*_FOREIGN, "37.160")))
            bots.append(ip)
            for user in leaked[number * 4 : number * 4 + 4]:
                t = start + timedelta(seconds=rng.uniform(0, span))
                last = max(last, t)
                self._login(
                    "sso", t, user, ip, ok=False, agent="Mozilla/5.0", known=not user[-3:].isdigit()
                )
        self._attack(
            "credential_stuffing",
            ["academie"],
            "tenant",
            "academie",
            start,
            last,
            "160 leaked credentials tried from 40 addresses, four each",
            bots,
        )

    def _https(
        self, t: datetime, src: str, dst: str, packets: int, size: int, duration: float
    ) -> None:
        """One established HTTPS flow from ``src`` to ``dst``."""
        sport = self.rng.randint(32768, 60999)
        self.records["flows"].append(
            (t, _flow(t, src, dst, sport, 443, "TCP", ".AP.SF", packets, size, duration))
        )

    def beaconing(self) -> None:
        """An infected pupil workstation calling its command server every five minutes."""
        w, rng = self.world, self.rng
        src = w.client_ip(rng.randrange(w.schools))
        dst = w.foreign_ip("177.32")
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(8, 10))
        t = start
        for _ in range(rng.randint(60, 90)):
            t += timedelta(seconds=300 * rng.uniform(0.98, 1.02))
            # a heartbeat: nearly the same size each time
            self._https(t, src, dst, 8, 8 * rng.randint(140, 150), rng.uniform(0.2, 1.5))
        self._attack(
            "beaconing", ["reseau"], "ip", src, start, t, "one host calls one server every 300 s"
        )
        self.c2.append(dst)
        self._attack(
            "threat_intel",
            ["reseau"],
            "ip",
            src,
            start,
            t,
            "one host calls a command server the CERT's feed lists",
        )

    def large_outbound(self) -> None:
        """A staff machine sending gigabytes abroad within the hour."""
        w, rng = self.world, self.rng
        src = w.client_ip(rng.randrange(w.schools))
        dst = w.foreign_ip("41.58")
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(0, 5))
        t = start
        for _ in range(12):
            t += timedelta(seconds=rng.uniform(60, 200))
            size = rng.randint(200, 300) * 1_000_000
            self._https(t, src, dst, size // 1400, size, rng.uniform(30, 60))
        self._attack(
            "large_outbound", ["reseau"], "ip", src, start, t, "about 3 GB sent abroad in an hour"
        )

    def web_attack(self, ip: str | None = None, start: datetime | None = None) -> datetime:
        """A scanner probing the regional portal for leaked files and exploitable pages."""
        w, rng = self.world, self.rng
        ip = ip or w.foreign_ip("95.165")
        start = start or WEEK_START + timedelta(days=rng.randint(0, 6), hours=rng.uniform(0, 23))
        t = start
        agent = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
        for _ in range(rng.randint(60, 120)):
            t += timedelta(seconds=rng.uniform(0.5, 6))
            path = rng.choice(_PROBES)
            self.records["web"].append(
                (t, _apache(t, ip, None, "GET", path, rng.choice((404, 404, 403, 400)), 196, agent))
            )
        self._attack(
            "web_attack", ["region"], "ip", ip, start, t, "probes for admin pages and leaked files"
        )
        return t

    def forced_browsing(self) -> None:
        """Paths guessed from a word list with a browser's user agent: mostly 404."""
        w, rng = self.world, self.rng
        ip = w.foreign_ip(rng.choice(("95.165", "37.160")))
        start = WEEK_START + timedelta(days=rng.randint(0, 6), hours=rng.uniform(0, 23))
        t = start
        for _ in range(rng.randint(100, 200)):
            t += timedelta(seconds=rng.uniform(0.2, 4))
            path = "/" + "/".join(rng.sample(_WORDS, rng.choice((1, 1, 2))))
            path += rng.choice(_WORD_ENDINGS)
            status = rng.choices((404, 403, 301, 200), weights=(85, 3, 6, 6))[0]
            self.records["web"].append(
                (t, _apache(t, ip, None, "GET", path, status, 196, rng.choice(_AGENTS)))
            )
        self._attack(
            "web_error_rate", ["region"], "ip", ip, start, t, "paths guessed from a word list"
        )

    def portal_flood(self) -> None:
        """An application-layer flood: a botnet hammers the portal's search until it fails."""
        w, rng = self.world, self.rng
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(9, 17))
        span = rng.uniform(10, 15) * 60
        bots = [w.foreign_ip(rng.choice((*_FOREIGN, "37.160"))) for _ in range(30)]
        end = start
        for _ in range(rng.randint(400, 600)):
            t = start + timedelta(seconds=rng.uniform(0, span))
            end = max(end, t)
            status = rng.choices((503, 504, 200), weights=(80, 8, 12))[0]
            path = "/api/recherche?q=" if rng.random() < 0.5 else "/api/recherche"
            self.records["web"].append(
                (t, _apache(t, rng.choice(bots), None, "GET", path, status, 512, "Mozilla/5.0"))
            )
        self._attack(
            "web_error_rate",
            ["region"],
            "tenant",
            "region",
            start,
            end,
            "a flood of searches from 30 addresses: the portal answers 503",
            bots,
        )

    # -- campaigns across tenants (what pooling is for) ---------------------
    def campaign(self) -> None:
        """One address: a port scan of the network, a web attack on the portal, then spraying."""
        w, rng = self.world, self.rng
        ip = w.foreign_ip("41.58")
        start = WEEK_START + timedelta(days=rng.randint(0, 3), hours=rng.uniform(0, 10))
        t = self.port_scan(horizontal=False, internal=False, src=ip, start=start)
        t = self.web_attack(ip=ip, start=t + timedelta(hours=rng.uniform(1, 3)))
        t = self.spraying(both=False, ip=ip, start=t + timedelta(hours=rng.uniform(1, 3)))
        self._attack(
            "incidents",
            ["academie", "region", "reseau"],
            "ip",
            ip,
            start,
            t,
            "one address scans the network, attacks the portal, then sprays the SSO",
        )

    def takeover(self) -> None:
        """A teacher's account guessed at the SSO, then used on the region's portal."""
        rng = self.rng
        teacher = rng.choice(self.world.academie[:200]).name  # an account at both tenants
        ip, t = self.failure_then_success(teacher)
        start = t - timedelta(minutes=5)
        t += timedelta(minutes=rng.uniform(20, 90))
        self._login("web", t, teacher, ip, ok=True, agent="python-requests/2.32.3")
        for path in ("/agents/conges", "/marches-publics", "/api/notifications"):
            t += timedelta(seconds=rng.uniform(5, 30))
            self.records["web"].append(
                (t, _apache(t, ip, teacher, "GET", path, 200, 4096, "python-requests/2.32.3"))
            )
        self._attack(
            "incidents",
            ["academie", "region"],
            "account",
            teacher,
            start,
            t,
            "an account taken over at the SSO, then used on the region's portal",
            [ip],
        )

    # -- background ------------------------------------------------------
    def _login(
        self,
        source: str,
        t: datetime,
        user: str,
        ip: str,
        *,
        ok: bool,
        agent: str | None = None,
        known: bool = True,
    ) -> None:
        if source == "sso":
            self.records["sso"].append((t, _keycloak(t, user, ip, ok, known)))
        else:
            agent = agent or self.rng.choice(_AGENTS)
            self.records["web"].append(
                (t, _apache(t, ip, user, "POST", "/auth/login", 200 if ok else 401, 512, agent))
            )

    def background(self, source: str, count: int) -> None:
        fill: dict[str, Callable[[], None]] = {
            "sso": self._sso_session,
            "web": self._web_session,
            "proxy": self._proxy_request,
            "dns": self._dns_query,
            "flows": self._flow_record,
            "mail": self._mail_message,
        }  # the DMARC report has records of the day only (its share is 0)
        target = len(self.records[source]) + max(count, 0)  # never cut an attack short
        while len(self.records[source]) < target:
            fill[source]()
        del self.records[source][target:]

    def _sso_session(self) -> None:
        w, rng = self.world, self.rng
        user = rng.choice(w.academie)
        t = w.habit_time(user)
        at_school = t.weekday() < 5 and 8 <= t.hour < 17 and rng.random() < 0.7
        ip = w.nat_ip(user.school) if at_school else user.home_ip
        # most type their password right; some mistype; a few forgot it (below any threshold)
        for _ in range(rng.choices((0, 1, 2, 4), weights=(92, 6, 2, 0.3))[0]):
            self._login("sso", t, user.name, ip, ok=False)
            t += timedelta(seconds=rng.uniform(5, 40))
        self._login("sso", t, user.name, ip, ok=True)

    def _web_session(self) -> None:
        w, rng = self.world, self.rng
        user = rng.choice(w.region)
        t = w.habit_time(user)
        ip = (
            f"195.83.{rng.randint(1, 40)}.{rng.randint(1, 254)}"
            if rng.random() < 0.4
            else user.home_ip
        )
        agent = rng.choice(_AGENTS)
        if rng.random() < 0.05:
            self._login("web", t, user.name, ip, ok=False, agent=agent)
            t += timedelta(seconds=rng.uniform(5, 30))
        self._login("web", t, user.name, ip, ok=True, agent=agent)
        for _ in range(rng.randint(2, 8)):
            t += timedelta(seconds=rng.uniform(2, 90))
            path = rng.choice(_PORTAL_PAGES)
            missing = rng.random() < 0.03  # browsers ask for icons the portal lacks
            self.records["web"].append(
                (
                    t,
                    _apache(
                        t,
                        ip,
                        user.name,
                        "GET",
                        rng.choice(("/favicon.ico", "/apple-touch-icon.png")) if missing else path,
                        404 if missing else rng.choice((200, 200, 200, 304)),
                        rng.randint(300, 90000),
                        agent,
                    ),
                )
            )

    def _proxy_request(self) -> None:
        w, rng = self.world, self.rng
        school = rng.randrange(w.schools)
        client = w.client_ip(school)
        t = w.busy_time(school_hours=True)
        domain = rng.choice(_DOMAINS)
        blocked = domain == "www.instagram.com" and rng.random() < 0.8
        url = f"{domain}:443" if rng.random() < 0.7 else f"http://{domain}/"
        user = rng.choice(w.academie).name if rng.random() < 0.3 else None
        peer = f"185.{rng.randint(1, 250)}.{rng.randint(1, 250)}.{rng.randint(1, 250)}"
        self.records["proxy"].append(
            (
                t,
                _squid(
                    t,
                    client,
                    user,
                    url,
                    403 if blocked else 200,
                    rng.randint(200, 250000),
                    "-" if blocked else peer,
                ),
            )
        )

    def _dns_query(self) -> None:
        """A school workstation resolving what pupils and teachers use, video CDNs
        (whose host names look random) and reverse lookups included."""
        w, rng = self.world, self.rng
        client = w.client_ip(rng.randrange(w.schools))
        t = w.busy_time(school_hours=True)
        roll = rng.random()
        if roll < 0.08:  # a video chunk: r4---sn-25glenez.googlevideo.com
            letters = "abcdefghijklmnopqrstuvwxyz0123456789"
            node = "".join(rng.choice(letters) for _ in range(8))
            qname = f"r{rng.randint(1, 9)}---sn-{node}.googlevideo.com"
        elif roll < 0.12:
            qname = f"{rng.randint(1, 254)}.{rng.randint(0, 15)}.10.in-addr.arpa"
        else:
            domain = rng.choice(_DOMAINS)
            qname = domain if rng.random() < 0.7 else f"static.{domain.split('.', 1)[-1]}"
        qtype = rng.choices(("A", "AAAA", "HTTPS", "PTR"), weights=(60, 30, 8, 2))[0]
        self.records["dns"].append((t, _bind(t, client, qname, qtype, rng.randint(1024, 65535))))

    def dns_tunnelling(self) -> None:
        """A host smuggling data out in the labels of TXT queries to one domain."""
        w, rng = self.world, self.rng
        client = w.client_ip(rng.randrange(w.schools))
        domain = rng.choice(("t.cdn-sync.example", "ns.backup-relay.example"))
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(8, 15))
        t = start
        alphabet = "abcdefghijklmnopqrstuvwxyz234567"  # base32, as iodine and dnscat2 use
        for _ in range(rng.randint(300, 600)):
            t += timedelta(seconds=rng.uniform(0.5, 8))
            label = "".join(rng.choice(alphabet) for _ in range(rng.randint(40, 60)))
            self._query(t, client, f"{label}.{domain}", "TXT", new=domain.split(".", 1)[1])
        self._attack(
            "dns_tunnelling", ["reseau"], "ip", client, start, t, f"data in TXT queries to {domain}"
        )

    def newly_seen_domain(self) -> None:
        """A few school hosts resolving a phishing domain registered this week."""
        w, rng = self.world, self.rng
        domain = next(d for d in rng.sample(_NEW_DOMAINS, 4) if d not in self.new_domains)
        self.new_domains[domain] = []
        start = WEEK_START + timedelta(days=rng.randint(3, 5), hours=rng.uniform(8, 15))
        clients = [w.client_ip(rng.randrange(w.schools)) for _ in range(rng.randint(1, 4))]
        for client in clients:
            t = start + timedelta(minutes=rng.uniform(0, 180))
            for _ in range(rng.randint(3, 8)):
                t += timedelta(seconds=rng.uniform(1, 300))
                qname = rng.choice((domain, f"www.{domain}", f"login.{domain}"))
                self._query(t, client, qname, "A", new=domain)

    def _query(self, t: datetime, client: str, qname: str, qtype: str, *, new: str) -> None:
        """One query for a name under ``new``, a domain an attack brings (its times kept)."""
        self.records["dns"].append(
            (t, _bind(t, client, qname, qtype, self.rng.randint(1024, 65535)))
        )
        self.new_domains.setdefault(new, []).append(t)

    def newly_seen(self, baseline_end: datetime) -> None:
        """Every domain an attack brought after the baseline is a newly seen domain too
        (a tunnel's domain included): one attack each, over its queries."""
        for domain, times in sorted(self.new_domains.items()):
            if times and min(times) >= baseline_end:
                self._attack(
                    "newly_seen_domain",
                    ["reseau"],
                    "domain",
                    domain,
                    min(times),
                    max(times),
                    "a domain no member's host resolved before, queried now",
                    [],
                )

    def dga(self) -> None:
        """Malware looking for its command server among algorithmically generated names."""
        w, rng = self.world, self.rng
        client = w.client_ip(rng.randrange(w.schools))
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(8, 15))
        t = start
        for _ in range(rng.randint(120, 250)):
            t += timedelta(seconds=rng.uniform(1, 12))
            name = "".join(
                rng.choice("bcdfghjklmnpqrstvwxzaeiou") for _ in range(rng.randint(10, 18))
            )
            qname = f"{name}.{rng.choice(('com', 'net', 'info', 'biz', 'org'))}"
            self.records["dns"].append((t, _bind(t, client, qname, "A", rng.randint(1024, 65535))))
        self._attack(
            "dga", ["reseau"], "ip", client, start, t, "a burst of random-looking domain names"
        )

    # -- mail --------------------------------------------------------------
    def _message(
        self,
        t: datetime,
        sender: str,
        client: str,
        recipients: list[str],
        *,
        attachment: str | None = None,
        reject_attachment: bool = False,
    ) -> None:
        """One inbound message as Postfix logs it: client, sender, checks, deliveries."""
        rng = self.rng
        qid = "".join(rng.choice("0123456789ABCDEF") for _ in range(10))
        lines = [(t, _postfix(t, "smtpd", f"{qid}: client=unknown[{client}]"))]
        t += timedelta(milliseconds=rng.randint(50, 400))
        if attachment is not None:
            verb = "reject" if reject_attachment else "warning"
            name = f"{rng.choice(('document', 'scan', 'piece-jointe', 'facture'))}.{attachment}"
            tail = ": 5.7.1 Attachment type not allowed" if reject_attachment else ""
            lines.append(
                (
                    t,
                    _postfix(
                        t,
                        "cleanup",
                        f'{qid}: {verb}: header Content-Disposition: attachment; filename="{name}"'
                        f" from unknown[{client}]; from=<{sender}> to=<{recipients[0]}> "
                        f"proto=ESMTP helo=<mail.example>{tail}",
                    ),
                )
            )
        if not reject_attachment:
            lines.append(
                (
                    t,
                    _postfix(
                        t,
                        "qmgr",
                        f"{qid}: from=<{sender}>, size={rng.randint(2_000, 900_000)}, "
                        f"nrcpt={len(recipients)} (queue active)",
                    ),
                )
            )
            for recipient in recipients:
                t += timedelta(milliseconds=rng.randint(100, 900))
                lines.append(
                    (
                        t,
                        _postfix(
                            t,
                            "lmtp",
                            f"{qid}: to=<{recipient}>, relay=mbox1.ac-normandie.fr[10.0.0.25]"
                            ":24, delay=0.8, delays=0.1/0/0.2/0.5, dsn=2.0.0, "
                            "status=sent (250 2.0.0 Ok)",
                        ),
                    )
                )
        self.records["mail"].extend(lines)

    def _mailbox(self) -> str:
        return f"{self.rng.choice(self.world.academie).name}@{OWN_DOMAINS[0]}"

    def _mail_message(self) -> None:
        """Everyday mail to the Académie: partners, parents, newsletters, spam rejected."""
        w, rng = self.world, self.rng
        t = w.busy_time()
        if rng.random() < 0.06:  # spam turned away at the door
            sender = f"info@{''.join(rng.choice('bcdfgklmnprstvz') for _ in range(7))}.com"
            ip = w.foreign_ip()
            self.records["mail"].append(
                (
                    t,
                    _postfix(
                        t,
                        "smtpd",
                        f"NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 Service "
                        f"unavailable; Client host [{ip}] blocked using zen.spamhaus.org; "
                        f"from=<{sender}> to=<{self._mailbox()}> proto=ESMTP helo=<{ip}>",
                    ),
                )
            )
            return
        domain = rng.choice(_SENDER_DOMAINS)
        sender = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}@{domain}".lower()
        client = f"198.51.100.{rng.randint(1, 254)}" if domain != OWN_DOMAINS[0] else "10.0.0.20"
        recipients = [self._mailbox() for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        attachment = rng.choice(_BENIGN_ATTACHMENTS) if rng.random() < 0.15 else None
        self._message(t, sender, client, recipients, attachment=attachment)

    def phishing(self, domain: str, attachment: str | None, recipients: int) -> None:
        """A phishing campaign into the Académie's mailboxes from one sending server."""
        w, rng = self.world, self.rng
        ip = w.foreign_ip()
        start = WEEK_START + timedelta(days=rng.randint(0, 4), hours=rng.uniform(7, 16))
        t = start
        for _ in range(recipients):
            t += timedelta(seconds=rng.uniform(2, 30))
            sender = f"{rng.choice(('support', 'rh', 'comptabilite', 'dsi'))}@{domain}"
            self._message(t, sender, ip, [self._mailbox()], attachment=attachment)
        what = f"{attachment} attachments" if attachment else "a credential-phishing link"
        self._attack(
            "phishing_mail",
            ["academie"],
            "domain",
            domain,
            start,
            t,
            f"{recipients} messages from {domain} with {what}",
            sources=[ip],
        )

    def dmarc(self) -> None:
        """The day's DMARC report: the Académie's servers, forwarders, a small
        misconfigured sender, and two sources sending as ac-normandie.fr."""
        w, rng = self.world, self.rng
        records = [
            _dmarc_record(f"193.48.9.{n}", rng.randint(200, 900), "none", "pass", "pass")
            for n in (25, 26, 27)
        ]
        records += [
            _dmarc_record(f"198.51.100.{n}", rng.randint(5, 40), "none", "pass", "fail")
            for n in (201, 202)
        ]  # forwarders: SPF breaks, DKIM survives
        records.append(_dmarc_record("198.51.100.230", rng.randint(3, 8), "none", "fail", "fail"))
        end = DMARC_DAY + timedelta(seconds=86399)
        for disposition, volume in (("none", (60, 200)), ("quarantine", (30, 80))):
            ip = w.foreign_ip()
            records.append(_dmarc_record(ip, rng.randint(*volume), disposition, "fail", "fail"))
            self._attack(
                "spoofed_sender",
                ["academie"],
                "ip",
                ip,
                DMARC_DAY,
                end,
                f"mail sent as {OWN_DOMAINS[0]} failing SPF and DKIM ({disposition})",
            )
        rng.shuffle(records)
        self.records["dmarc"].extend((DMARC_DAY, r) for r in records)

    def _flow_record(self) -> None:
        w, rng = self.world, self.rng
        t = w.busy_time(school_hours=True)
        src = w.client_ip(rng.randrange(w.schools))
        port = rng.choices((443, 80, 53, 993, 8080), weights=(60, 15, 20, 3, 2))[0]
        dst = (
            f"172.16.0.{rng.randint(2, 60)}"
            if port in (53, 8080)
            else f"185.{rng.randint(1, 250)}.{rng.randint(1, 250)}.{rng.randint(1, 250)}"
        )
        proto = "UDP" if port == 53 else "TCP"
        packets = rng.randint(1, 4) if proto == "UDP" else rng.randint(6, 400)
        self.records["flows"].append(
            (
                t,
                _flow(
                    t,
                    src,
                    dst,
                    rng.randint(32768, 60999),
                    port,
                    proto,
                    "......" if proto == "UDP" else ".AP.SF",
                    packets,
                    packets * rng.randint(60, 1400),
                    rng.uniform(0.01, 30),
                ),
            )
        )


#: the made-up list of the demo's authority: harmless invented domains and paths
AUTHORITY_LIST = (
    "# Liste de démonstration de l'autorité : entrées inventées et inoffensives.",
    "contenu-interdit.example",
    "http://partage-anonyme.example/galerie/privee/",
    "miroir.contenu-interdit2.example/depot/",
)
_BENIGN_SEARCHES = (
    "pronote connexion",
    "horaires bus",
    "exposé sur les attentats du 13 novembre",
    "paroles je veux mourir dans tes bras",
    "3114 numéro prévention suicide",
    "je vais mourir de rire",
    "comment fabriquer une bombe de bain",
    "brevet maths 2025",
    "traduction anglais",
    "ma mère va me tuer si je rentre tard",
)
#: (signal class, query) typed by pupils in need of help in the demo week
_SIGNAL_SEARCHES = (
    ("distress", "je veux mourir"),
    ("distress", "comment se suicider sans douleur"),
    ("distress", "jveux plus vivre"),
    ("harassment", "je suis harcelée au collège que faire"),
    ("radicalisation", "comment rejoindre daech"),
)


def _search_url(query: str) -> str:
    from urllib.parse import quote_plus

    return f"https://www.google.fr/search?q={quote_plus(query)}&client=firefox"


def _safeguarding(gen: _Generator, seed: int) -> list[dict[str, str]]:
    """Proxy lines for the protection-of-minors analyses, from their own random stream.

    Benign searches (hard negatives among them), pupils whose searches carry a
    signal, and pupils who reach an entry of the authority's made-up list.
    Returns the truth for those analyses; the cyber-attack truth is untouched.
    """
    rng, w = random.Random(seed + 7919), gen.world
    truth = []

    def school_time() -> datetime:
        return WEEK_START + timedelta(days=rng.randrange(5), hours=rng.uniform(8, 17.5))

    def request(t: datetime, user: str, url: str) -> None:
        client = f"10.{rng.randrange(w.schools) + 1}.{rng.randint(0, 15)}.{rng.randint(2, 250)}"
        line = _squid(t, client, user, url, 200, rng.randint(500, 90000), "185.10.10.10")
        gen.records["proxy"].append((t, line))

    pupils = rng.sample(w.academie, 40)
    for pupil in pupils[:30]:
        for _ in range(rng.randint(1, 4)):
            request(school_time(), pupil.name, _search_url(rng.choice(_BENIGN_SEARCHES)))
    for pupil, (cls, query) in zip(pupils[30:35], _SIGNAL_SEARCHES, strict=True):
        request(school_time(), pupil.name, _search_url(query))
        truth.append({"analysis": "search_signals", "class": cls, "account": pupil.name})
    for pupil, url in zip(
        pupils[35:37],
        (
            "http://www.contenu-interdit.example/a/1.jpg",
            "http://partage-anonyme.example/galerie/privee/2",
        ),
        strict=True,
    ):
        request(school_time(), pupil.name, url)
        truth.append({"analysis": "blocklist_access", "class": "list", "account": pupil.name})
    return truth


#: where the network operator keeps the feed of its CERT (MISP JSON export)
INTEL_FEED = ("reseau", "cert-feed.misp.json")


def _intel_feed(gen: _Generator) -> dict[str, object]:
    """A MISP export as a regional CERT would publish it: the command servers the
    beacons call, among indicators that never appear in the week."""
    rng = random.Random(4241)
    decoys = [f"203.0.113.{rng.randint(1, 254)}" for _ in range(20)]
    attributes = (
        [
            {"type": "ip-dst", "category": "Network activity", "to_ids": True, "value": ip}
            for ip in [*gen.c2, *decoys]
        ]
        + [
            {"type": "domain", "category": "Network activity", "to_ids": True, "value": d}
            for d in ("update-check.example", "cdn-telemetry.example")
        ]
        + [
            # context, not for detection (to_ids false): never matched
            {
                "type": "ip-src",
                "category": "Network activity",
                "to_ids": False,
                "value": "192.0.2.7",
            }
        ]
    )
    return {
        "response": [
            {
                "Event": {
                    "info": "CERT régional : serveurs de commande d'un RAT visant les lycées",
                    "threat_level_id": "2",
                    "Attribute": attributes,
                }
            }
        ]
    }


def _malformed(rng: random.Random, line: str, *, whole: bool = False) -> str:
    """A line damaged the way disks and transports damage them: cut short, or garbage.

    ``whole``: garbage only, for formats where a cut line may still read as a
    line that records no event (a Postfix line cut after its program name).
    """
    if not whole and rng.random() < 0.5:
        return line[: rng.randint(5, max(6, len(line) // 2))]
    return "#### corrupted record " + "".join(rng.choice("abcxyz%$") for _ in range(20))


def generate(inputs: Path, *, events: int = 200_000, seed: int = 1) -> GenerationSummary:
    """Write the four sources under ``inputs/<tenant>/`` and ``inputs/ground-truth.json``."""
    if events < MIN_EVENTS:
        raise ConfigError(f"--events: at least {MIN_EVENTS} events are needed for the attacks")
    gen = _Generator(seed)
    for _ in range(2):
        gen.spraying(both=True)
    gen.spraying(both=False)
    for source in ("sso", "sso", "sso", "web"):
        gen.brute_force(source)
    gen.port_scan(horizontal=False, internal=False)
    gen.port_scan(horizontal=False, internal=True)
    gen.port_scan(horizontal=True, internal=False)
    for _ in range(4):
        gen.impossible_travel()
    for _ in range(3):
        gen.new_country()
    gen.syn_flood()
    for _ in range(3):
        gen.failure_then_success()
    gen.credential_stuffing()
    for _ in range(2):
        gen.beaconing()
        gen.large_outbound()
        gen.web_attack()
    gen.campaign()
    gen.takeover()
    for _ in range(2):
        gen.dns_tunnelling()
        gen.dga()
    for _ in range(4):
        gen.unusual_hour()
    for _ in range(3):
        gen.concurrent_sessions()
        gen.newly_seen_domain()
    for _ in range(2):
        gen.forced_browsing()
    gen.portal_flood()
    gen.phishing("ac-normandle.fr", "html", 40)
    gen.phishing("ac-normandie.fr-securite.com", None, 120)
    gen.phishing("factures-en-ligne.example", "iso", 25)
    gen.dmarc()
    safeguarding = _safeguarding(gen, seed)  # its own random stream: the rest is unchanged
    injected = sum(len(r) for r in gen.records.values())
    budget = events - injected
    malformed: dict[str, int] = {}
    counts = {source: round(budget * spec[3]) for source, spec in SOURCES.items()}
    counts["flows"] = budget - sum(c for s, c in counts.items() if s != "flows")
    for source, count in counts.items():
        gen.background(source, count)
    # what newly_seen_domain remembers by default: the first days of the week's queries
    gen.newly_seen(min(t for t, _ in gen.records["dns"]) + timedelta(days=BASELINE_DAYS))
    files: dict[str, str] = {}
    per_source: dict[str, int] = {}
    for source, (tenant, name, _fmt, _share) in SOURCES.items():
        records = sorted(gen.records[source], key=lambda r: r[0])
        lines = [line for _, line in records]
        path = inputs / tenant / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if source == "dmarc":  # one XML document, not lines
            path.write_text(_dmarc_report(lines), encoding="utf-8")
            per_source[source] = len(lines)
            continue
        bad = max(1, len(lines) // 4000)
        for index in gen.rng.sample(range(len(lines)), bad):
            lines[index] = _malformed(gen.rng, lines[index], whole=source == "mail")
        malformed[tenant] = malformed.get(tenant, 0) + bad  # a tenant may have two sources
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            if source == "flows":
                handle.write(_NFDUMP_HEADER + "\n")
            handle.write("\n".join(lines) + "\n")
            if source == "flows":
                handle.write(
                    "Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n"
                    f"{len(lines)},0,0,0,0,0\n"
                )
        files[tenant] = str(path)
        per_source[source] = len(lines)
    summary = GenerationSummary(
        seed, sum(per_source.values()), files, per_source, malformed, gen.attacks
    )
    truth = {
        "seed": seed,
        "events": summary.events,
        "week_start": WEEK_START.isoformat(),
        "malformed_lines": malformed,
        "attacks": [asdict(a) for a in gen.attacks],
        "safeguarding": safeguarding,
    }
    feed = inputs / INTEL_FEED[0] / INTEL_FEED[1]
    feed.write_text(json.dumps(_intel_feed(gen), indent=1, ensure_ascii=False), encoding="utf-8")
    authority = inputs / "autorite" / "liste-autorite.txt"
    authority.parent.mkdir(parents=True, exist_ok=True)
    authority.write_text("\n".join(AUTHORITY_LIST) + "\n", encoding="utf-8")
    (inputs / "ground-truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return summary


def load_ground_truth(path: Path) -> list[Attack]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return [Attack(**a) for a in document["attacks"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a ground-truth file") from exc
