"""The embedded default: one directory holding a whole consortium.

Layout (operators and tests rely on it)::

    config.yaml                  public configuration and public keys
    tenants/<tenant>/            keystore.json, reid.json, quarantine/ (all encrypted)
    recipients/<name>/           keystore of a recipient that is not a tenant (joint SOC)
    consortium/                  keystores of the pseudonym service and the ledger operator
    runtime/                     the SIMULATED attestation key
    inputs/<tenant>/             raw logs, on the owner's side (written by `generate`)
    contracts/<id>.yaml          contracts as people write them
    nodes/<node>/                storage nodes
    ledger/                      entries and signed checkpoints
    meta.sqlite                  metadata
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from confiance.consortium.metadata import Metadata
from confiance.errors import ConfigError
from confiance.keys import KeyStore, SoftwareKeyStore
from confiance.keys.pkcs11 import Pkcs11KeyStore, TokenConfig
from confiance.keys.pki import MemberCredentials, certified_signing_key, signing_certificate_path
from confiance.ledger import (
    CosignatureVerifier,
    Cosigner,
    Ledger,
    NoteSigner,
    NoteVerifier,
    Trust,
    Witness,
)
from confiance.ledger.timestamp import TimestampAuthority, load_roots
from confiance.pseudonym import Evaluator
from confiance.pseudonym.network import HttpEvaluator
from confiance.pseudonym.threshold import EvaluatorClient, FileCounts
from confiance.store import Node, NodeLabels, ObjectStore, ResidencyPolicy, node_from_config

logger = logging.getLogger(__name__)

TENANTS = ("academie", "region", "lycees", "reseau")
_CONTRACT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
SOC = "soc-commun"
OPERATOR = "operator"
#: The consortium members that each hold a share of the OPRF key, 2-of-3.
OPRF_EVALUATORS = (("academie", 1), ("region", 2), ("reseau", 3))
OPRF_THRESHOLD = 2
RUNTIME = "runtime"

#: (name, datacenter, operator, jurisdiction): six independent local datacenters.
DEFAULT_NODES = (
    ("dc-rouen", "rouen-1", "region-dc", "FR-NOR"),
    ("dc-caen", "caen-1", "academie-dc", "FR-NOR"),
    ("dc-lehavre", "lehavre-1", "reseau-dc", "FR-NOR"),
    ("dc-evreux", "evreux-1", "region-dc", "FR-NOR"),
    ("dc-alencon", "alencon-1", "academie-dc", "FR-NOR"),
    ("dc-dieppe", "dieppe-1", "reseau-dc", "FR-NOR"),
)


def default_home() -> Path:
    return Path(os.environ.get("CONFIANCE_HOME", ".confiance"))


def _env_name(owner: str) -> str:
    return "CONFIANCE_PASSPHRASE_" + owner.upper().replace("-", "_")


@dataclass
class Home:
    """An opened consortium home; keystores are opened lazily and cached."""

    root: Path

    def __post_init__(self) -> None:
        self._keystores: dict[str, SoftwareKeyStore] = {}
        self._config: dict[str, Any] | None = None
        self._evaluators: list[Evaluator] | None = None
        self._hsm: dict[str, Pkcs11KeyStore] = {}

    # -- layout ---------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def meta(self) -> Metadata:
        return Metadata(self.root / "meta.sqlite")

    def tenant_dir(self, tenant: str) -> Path:
        return self.root / "tenants" / tenant

    def inputs_dir(self) -> Path:
        return self.root / "inputs"

    def contract_path(self, contract_id: str) -> Path:
        if not _CONTRACT_ID.fullmatch(contract_id):
            raise ConfigError(
                f"contract id {contract_id[:70]!r}: lower-case letters, digits, - and _"
            )
        return self.root / "contracts" / f"{contract_id}.yaml"

    @property
    def attestation_key_path(self) -> Path:
        return self.root / "runtime" / "simulated-attestation-key.pem"

    def keystore_path(self, owner: str) -> Path:
        if owner in TENANTS or (self.config_path.is_file() and owner in self.authorities):
            return self.tenant_dir(owner) / "keystore.json"
        if owner == SOC:
            return self.root / "recipients" / owner / "keystore.json"
        return self.root / "consortium" / f"{owner}.keystore.json"

    # -- configuration --------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            if not self.config_path.is_file():
                raise ConfigError(
                    f"{self.root}: not a confiance home (no config.yaml; run `confiance init`)"
                )
            try:
                loaded = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ConfigError(f"{self.config_path}: not valid YAML") from exc
            if not isinstance(loaded, dict) or loaded.get("format") != "confiance-home/1":
                raise ConfigError(f"{self.config_path}: not a confiance-home/1 configuration")
            self._config = loaded
        return self._config

    def save_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self._config = config

    def require_owner(self, owner: str) -> str:
        """A tenant or an enrolled authority: anyone who owns data and signs contracts."""
        if owner in self.authorities:
            return owner
        return self.require_tenant(owner)

    def require_tenant(self, tenant: str) -> str:
        if tenant not in self.config["tenants"]:
            raise ConfigError(
                f"unknown tenant {tenant!r} (known: {', '.join(self.config['tenants'])})"
            )
        return tenant

    @property
    def authorities(self) -> tuple[str, ...]:
        """Authorities enrolled as owners of reference data (e.g. a list of illegal content)."""
        return tuple(self.config.get("authorities", []))

    def require_authority(self, name: str) -> str:
        if name not in self.authorities:
            known = ", ".join(self.authorities) or "none; run `confiance authority add`"
            raise ConfigError(f"unknown authority {name!r} (enrolled: {known})")
        return name

    def certified_signing_keys(self) -> dict[str, Ed25519PublicKey]:
        """Each owner's signing key, from its certificate verified against the CA."""
        return {
            owner: certified_signing_key(
                signing_certificate_path(self.tenant_dir(owner)),
                member=owner,
                ca_certificate=self.root / "pki" / "ca.pem",
            )
            for owner in (*self.config["tenants"], *self.authorities)
        }

    def signing_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every actor's public signing key, as published in config.yaml."""
        return {
            name: Ed25519PublicKey.from_public_bytes(base64.b64decode(keys["signing"]))
            for name, keys in self.config["public_keys"].items()
            if "signing" in keys
        }

    # -- secrets --------------------------------------------------------
    def passphrase(self, owner: str, *, create: bool = False) -> str:
        """From ``CONFIANCE_PASSPHRASE_<OWNER>``, else the demo's passphrase file."""
        from_env = os.environ.get(_env_name(owner))
        if from_env:
            return from_env
        path = self.keystore_path(owner).with_name(
            self.keystore_path(owner).name.replace("keystore.json", "passphrase")
        )
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        if not create:
            raise ConfigError(f"no passphrase for {owner}: set {_env_name(owner)}")
        value = secrets.token_urlsafe(24)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        logger.info(
            "UNSAFE demo setting: passphrase of %s stored beside its keystore; set %s instead",
            owner,
            _env_name(owner),
        )
        return value

    def pkcs11_pin(self, tenant: str) -> str:
        """The user PIN of the tenant's token: ``CONFIANCE_PKCS11_PIN_<TENANT>``."""
        name = "CONFIANCE_PKCS11_PIN_" + tenant.upper().replace("-", "_")
        pin = os.environ.get(name)
        if not pin:
            raise ConfigError(f"no PIN for {tenant}'s PKCS#11 token: set {name}")
        return pin

    def kek_store(self, tenant: str) -> KeyStore:
        """Where the tenant's KEK lives: its software keystore, or a PKCS#11 token."""
        settings = self.config.get("keystores", {}).get(tenant)
        if not settings or settings.get("backend") != "pkcs11":
            return self.keystore(tenant)
        if tenant not in self._hsm:
            token = TokenConfig(
                str(settings["module"]), str(settings["token"]), str(settings["kek_label"])
            )
            self._hsm[tenant] = Pkcs11KeyStore(
                token, pin=self.pkcs11_pin(tenant), software=self.keystore(tenant)
            )
        return self._hsm[tenant]

    def forget_kek_store(self, tenant: str) -> None:
        store = self._hsm.pop(tenant, None)
        if store is not None:
            store.close()

    def keystore(self, owner: str) -> SoftwareKeyStore:
        if owner not in self._keystores:
            self._keystores[owner] = SoftwareKeyStore.open(
                self.keystore_path(owner), passphrase=self.passphrase(owner)
            )
        return self._keystores[owner]

    def close(self) -> None:
        for tenant in list(self._hsm):
            self.forget_kek_store(tenant)
        for keystore in self._keystores.values():
            keystore.close()
        self._keystores.clear()
        self._evaluators = None

    # -- components -----------------------------------------------------
    def ledger(self) -> Ledger:
        return Ledger(self.root / "ledger", origin=self.config["ledger"]["origin"])

    def operator_signer(self) -> NoteSigner:
        return NoteSigner(self.config["ledger"]["origin"], self.keystore(OPERATOR).signing_key())

    def operator_verifier(self) -> NoteVerifier:
        return NoteVerifier.from_vkey(self.config["ledger"]["operator_vkey"])

    def record(self, actor: str, kind: str, body: dict[str, Any]) -> None:
        """Append a ledger entry signed by ``actor`` (a tenant, the operator …)."""
        self.ledger().record(
            kind=kind,
            actor=actor,
            body=body,
            signer=self.keystore(actor).signing_key(),
            operator=self.operator_signer(),
        )

    def credentials(self, member: str) -> MemberCredentials:
        """A member's TLS certificate and encrypted key, issued by the consortium CA."""
        directory = self.tenant_dir(member)
        return MemberCredentials(
            member,
            directory / "tls-cert.pem",
            directory / "tls-key.pem",
            self.root / "pki" / "ca.pem",
        )

    def evaluator_clients(self, requester: str) -> list[EvaluatorClient]:
        """How ``requester`` reaches each evaluator: over mutual TLS where the
        configuration gives an address, in process otherwise."""
        local = {e.name: e for e in self.evaluators()}
        clients: list[EvaluatorClient] = []
        for entry in self.config["pseudonyms"]["evaluators"]:
            address = entry.get("address")
            if not address:
                clients.append(local[entry["name"]])
                continue
            host, _, port = str(address).rpartition(":")
            context = self.credentials(requester).client_context(self.passphrase(requester))
            clients.append(
                HttpEvaluator(entry["name"], int(entry["index"]), host, int(port), context)
            )
        return clients

    def evaluators(self) -> list[Evaluator]:
        """The OPRF evaluators, in process (embedded default); counts persist per day."""
        if self._evaluators is None:
            config = self.config["pseudonyms"]
            self._evaluators = [
                Evaluator(
                    name=e["name"],
                    index=int(e["index"]),
                    share=self.keystore(e["name"]).oprf_share(),
                    declared=config["declared_daily_volume"],
                    counts=FileCounts(self.tenant_dir(e["name"]) / "oprf-counts.json"),
                    on_count=self._count_recorder(e["name"]),
                )
                for e in config["evaluators"]
            ]
        return self._evaluators

    def _count_recorder(self, evaluator: str) -> Callable[[str, str, int], None]:
        def record(tenant: str, day: str, count: int) -> None:
            self.record(
                evaluator,
                "oprf.daily-count",
                {"evaluator": evaluator, "requester": tenant, "day": day, "count": count},
            )

        return record

    def witness_verifiers(self) -> dict[str, CosignatureVerifier]:
        """Each tenant witness's cosignature key, as published in config.yaml."""
        return {
            tenant: CosignatureVerifier.from_vkey(vkey)
            for tenant, vkey in self.config["ledger"]["witnesses"]["vkeys"].items()
        }

    def witness_threshold(self) -> int:
        return int(self.config["ledger"]["witnesses"]["threshold"])

    def witness(self, tenant: str) -> Witness:
        """The tenant's witness; its state lives on the tenant's side."""
        self.require_tenant(tenant)
        name = self.witness_verifiers()[tenant].name
        return Witness(
            cosigner=Cosigner(name, self.keystore(tenant).witness_key()),
            state_path=self.tenant_dir(tenant) / "witness.json",
            logs={self.config["ledger"]["origin"]: [self.operator_verifier()]},
        )

    def tsa(self) -> TimestampAuthority | None:
        """The configured RFC 3161 authority (``ledger.tsa``: url, roots), if any."""
        tsa = self.config["ledger"].get("tsa")
        if not tsa:
            return None
        return TimestampAuthority(str(tsa["url"]), load_roots(self.root / str(tsa["roots"])))

    def tsa_roots(self) -> list[x509.Certificate]:
        tsa = self.tsa()
        return [] if tsa is None else list(tsa.roots)

    def trust(self) -> Trust:
        """Every public key an offline verifier needs, from config.yaml."""
        return Trust(
            log=self.operator_verifier(),
            actors=self.signing_public_keys(),
            witnesses=list(self.witness_verifiers().values()),
            threshold=self.witness_threshold(),
            tsa_roots=self.tsa_roots(),
        )

    def trust_bundle(self) -> dict[str, Any]:
        return {
            "log": self.config["ledger"]["operator_vkey"],
            "actors": {
                name: keys["signing"]
                for name, keys in self.config["public_keys"].items()
                if "signing" in keys
            },
            "witnesses": list(self.config["ledger"]["witnesses"]["vkeys"].values()),
            "threshold": self.witness_threshold(),
            "tsa_roots": [
                root.public_bytes(serialization.Encoding.PEM).decode() for root in self.tsa_roots()
            ],
        }

    def nodes(self) -> list[Node]:
        """Every configured node, draining ones included (they still hold fragments)."""
        return [node_from_config(n, base=self.root) for n in self.config["store"]["nodes"]]

    def object_store(self) -> ObjectStore:
        store = self.config["store"]
        labels = {
            n["name"]: NodeLabels(
                datacenter=str(n.get("datacenter", n["name"])),
                operator=str(n.get("operator", "")),
                jurisdiction=str(n.get("jurisdiction", "")),
                weight=float(n.get("weight", 1.0)),
            )
            for n in store["nodes"]
        }
        return ObjectStore(
            self.nodes(),
            k=int(store["k"]),
            m=int(store["m"]),
            labels=labels,
            manifest_keys=self.keystore(OPERATOR),
            draining=[n["name"] for n in store["nodes"] if n.get("state") == "draining"],
        )

    def residency(self, tenant: str) -> ResidencyPolicy | None:
        """The tenant's residency policy (``residency.<tenant>`` in config.yaml), if any."""
        rule = self.config.get("residency", {}).get(tenant)
        return None if rule is None else ResidencyPolicy(tuple(rule["jurisdiction_in"]))

    def store_descriptor(self) -> dict[str, Any]:
        """What the runtime needs to read fragments itself."""
        store = self.config["store"]
        return {
            "k": store["k"],
            "m": store["m"],
            "nodes": [n.config() for n in self.nodes()],
        }
