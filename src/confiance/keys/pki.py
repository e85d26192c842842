"""The consortium's X.509 authority: one certificate per member for mutual TLS.

The CA key is encrypted at rest under the operator's passphrase; member keys
under their owner's. Certificates name the member in the subject CN (what
servers authorise on) and carry loopback/host names for serving.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from confiance.errors import KeyStoreError

_VALIDITY = datetime.timedelta(days=825)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _encrypted(key: ec.EllipticCurvePrivateKey, passphrase: str) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


@dataclass(frozen=True)
class MemberCredentials:
    """Where a member's certificate and encrypted key lie, and the CA to trust."""

    member: str
    certificate: Path
    key: Path
    ca: Path

    def server_context(self, passphrase: str, *, crl: Path | None = None) -> ssl.SSLContext:
        """TLS 1.3 server that requires a client certificate from the consortium CA.

        With ``crl``, a client whose certificate it revokes is refused at the handshake.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(self.certificate, self.key, password=passphrase)
        context.load_verify_locations(self.ca)
        if crl is not None:
            context.load_verify_locations(crl)
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client_context(self, passphrase: str) -> ssl.SSLContext:
        """TLS 1.3 client presenting this member's certificate, trusting only the CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(self.certificate, self.key, password=passphrase)
        context.load_verify_locations(self.ca)
        return context


def _member_certificate(
    member: str, public_key: ec.EllipticCurvePublicKey | Ed25519PublicKey, ca: x509.Certificate
) -> x509.CertificateBuilder:
    """What every member certificate has: its name, the issuer, validity, not a CA."""
    return (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "confiance consortium"),
                    x509.NameAttribute(NameOID.COMMON_NAME, member),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )


class ConsortiumCA:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def certificate_path(self) -> Path:
        return self.directory / "ca.pem"

    def create(self, *, passphrase: str, name: str = "confiance consortium CA") -> None:
        if self.certificate_path.exists():
            raise KeyStoreError(f"{self.directory}: a CA already exists")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + 4 * _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write(self.directory / "ca-key.pem", _encrypted(key, passphrase))
        _write(self.certificate_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)

    def issue(
        self, member: str, *, ca_passphrase: str, member_passphrase: str, directory: Path
    ) -> MemberCredentials:
        """A certificate for ``member`` (client and server), its key encrypted."""
        ca_key, ca = _load_ca(self, ca_passphrase)
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            _member_certificate(member, key.public_key(), ca)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(f"{member}.confiance.example"),
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        credentials = MemberCredentials(
            member, directory / "tls-cert.pem", directory / "tls-key.pem", self.certificate_path
        )
        _write(credentials.key, _encrypted(key, member_passphrase))
        _write(credentials.certificate, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        return credentials


def signing_certificate_path(directory: Path) -> Path:
    return directory / "signing-cert.pem"


def _load_ca(
    self: ConsortiumCA, ca_passphrase: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key(
            (self.directory / "ca-key.pem").read_bytes(), password=ca_passphrase.encode()
        )
    except (OSError, ValueError, TypeError):
        raise KeyStoreError("consortium CA key: cannot be opened") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError("consortium CA key: unexpected type")
    return key, x509.load_pem_x509_certificate(self.certificate_path.read_bytes())


def certify_signing_key(
    ca: ConsortiumCA,
    member: str,
    public_key: Ed25519PublicKey,
    *,
    ca_passphrase: str,
    directory: Path,
) -> Path:
    """A certificate binding ``member`` to its Ed25519 signing key (contracts, ledger)."""
    ca_key, ca_certificate = _load_ca(ca, ca_passphrase)
    certificate = (
        _member_certificate(member, public_key, ca_certificate)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    path = signing_certificate_path(directory)
    _write(path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return path


def certified_signing_key(
    path: Path, *, member: str, ca_certificate: Path, now: datetime.datetime | None = None
) -> Ed25519PublicKey:
    """The Ed25519 key a certificate binds to ``member``, after checking the CA issued it."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        ca = x509.load_pem_x509_certificate(ca_certificate.read_bytes())
    except (OSError, ValueError):
        raise KeyStoreError(f"signing certificate of {member}: missing or malformed") from None
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise KeyStoreError(
            f"signing certificate of {member}: not issued by the consortium CA"
        ) from None
    moment = now or _now()
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        raise KeyStoreError(f"signing certificate of {member}: outside its validity period")
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [member]:
        raise KeyStoreError(f"signing certificate of {member}: names someone else")
    key = certificate.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeyStoreError(f"signing certificate of {member}: not an Ed25519 key")
    return key


def peer_member(certificate: dict[str, object] | None) -> str:
    """The member named by a verified peer certificate (its subject CN)."""
    if not certificate:
        raise KeyStoreError("no client certificate")
    for rdn in certificate.get("subject", ()):  # type: ignore[attr-defined]
        for field, value in rdn:
            if field == "commonName":
                return str(value)
    raise KeyStoreError("client certificate names no member")


#: what a person may do; carried in the certificate's subject (``title``)
ROLES = ("tenant-admin", "analyst", "reviewer", "auditor", "operator")


@dataclass(frozen=True)
class PersonCredentials:
    """A person's client certificate: PEM for API clients, PKCS#12 for browsers."""

    serial: int
    certificate: Path
    key: Path
    pkcs12: Path


@dataclass(frozen=True)
class Identity:
    """Who a verified client certificate names: a person, their tenant and role."""

    name: str
    tenant: str
    role: str
    serial: int


def issue_person(
    ca: ConsortiumCA,
    *,
    tenant: str,
    role: str,
    name: str,
    ca_passphrase: str,
    passphrase: str,
    directory: Path,
) -> PersonCredentials:
    """A client certificate for one person of ``tenant`` with ``role`` (subject OU and title).

    The key is written encrypted under ``passphrase``, in PEM and in a
    PKCS#12 bundle (with the CA) that browsers import.
    """
    if role not in ROLES:
        raise KeyStoreError(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    if not name.strip() or len(name) > 64:
        raise KeyStoreError("--name: 1 to 64 characters")
    if len(passphrase) < 8:
        raise KeyStoreError("the certificate passphrase must have at least 8 characters")
    ca_key, ca_certificate = _load_ca(ca, ca_passphrase)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "confiance consortium"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, tenant),
            x509.NameAttribute(NameOID.TITLE, role),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=397))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    stem = f"{tenant}-{role}-{certificate.serial_number:x}"
    credentials = PersonCredentials(
        certificate.serial_number,
        directory / f"{stem}.pem",
        directory / f"{stem}-key.pem",
        directory / f"{stem}.p12",
    )
    _write(credentials.key, _encrypted(key, passphrase))
    _write(credentials.certificate, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(
        credentials.pkcs12,
        pkcs12.serialize_key_and_certificates(
            name.encode(),
            key,
            certificate,
            [ca_certificate],
            serialization.BestAvailableEncryption(passphrase.encode()),
        ),
    )
    return credentials


def identity_of(der: bytes) -> Identity:
    """The person a (verified) client certificate names; refuses a member certificate."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        raise KeyStoreError("client certificate is malformed") from None

    def one(oid: x509.ObjectIdentifier) -> str:
        values = certificate.subject.get_attributes_for_oid(oid)
        if len(values) != 1:
            raise KeyStoreError("client certificate does not name one tenant, role and person")
        return str(values[0].value)

    role = one(NameOID.TITLE)
    if role not in ROLES:
        raise KeyStoreError("client certificate carries no known role")
    return Identity(
        one(NameOID.COMMON_NAME),
        one(NameOID.ORGANIZATIONAL_UNIT_NAME),
        role,
        certificate.serial_number,
    )


def _revoked_path(ca: ConsortiumCA) -> Path:
    return ca.directory / "revoked.txt"


def revoke(ca: ConsortiumCA, serial: int, *, ca_passphrase: str) -> Path:
    """Revoke a certificate by serial and publish a new CRL; returns the CRL's path."""
    _load_ca(ca, ca_passphrase)  # only the CA's holder revokes
    path = _revoked_path(ca)
    known = set(path.read_text().split()) if path.exists() else set()
    known.add(f"{serial:x}")
    _write(path, "".join(f"{s}\n" for s in sorted(known)).encode(), 0o644)
    return write_crl(ca, ca_passphrase=ca_passphrase)


def crl_path(ca: ConsortiumCA) -> Path:
    return ca.directory / "crl.pem"


def write_crl(ca: ConsortiumCA, *, ca_passphrase: str, days: int = 7) -> Path:
    """Sign the list of revoked serials as an X.509 CRL (valid ``days``)."""
    ca_key, ca_certificate = _load_ca(ca, ca_passphrase)
    path = _revoked_path(ca)
    serials = sorted(int(s, 16) for s in path.read_text().split()) if path.exists() else []
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_certificate.subject)
        .last_update(_now() - datetime.timedelta(minutes=5))
        .next_update(_now() + datetime.timedelta(days=days))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(_now() - datetime.timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    _write(crl_path(ca), crl.public_bytes(serialization.Encoding.PEM), 0o644)
    return crl_path(ca)


def revoked_serials(ca: ConsortiumCA) -> frozenset[int]:
    """Serials the CA's current CRL revokes, after checking the CA signed it."""
    path = crl_path(ca)
    if not path.exists():
        return frozenset()
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
        issuer = x509.load_pem_x509_certificate(ca.certificate_path.read_bytes())
    except (OSError, ValueError):
        raise KeyStoreError(f"{path}: unreadable CRL") from None
    public = issuer.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(public):
        raise KeyStoreError(f"{path}: CRL not signed by the consortium CA")
    return frozenset(r.serial_number for r in crl)
