"""The contract document, parsed once from YAML into frozen, checked objects."""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from confiance.errors import ContractError

_Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Party(_Frozen):
    tenant: _Name
    role: Annotated[str, Field(pattern=r"^(data-owner|recipient|authority)$")]


class Dataset(_Frozen):
    tenant: _Name
    source: _Name
    #: days (UTC) whose data the contract covers; both ends included, open when absent
    from_day: date | None = None
    until_day: date | None = None

    def covers(self, day: date) -> bool:
        return (self.from_day is None or day >= self.from_day) and (
            self.until_day is None or day <= self.until_day
        )


class Analysis(_Frozen):
    detector: _Name
    code_digest: _Digest
    #: thresholds (and allow-lists) the owners approve; they override the runtime's defaults
    parameters: dict[str, int | float | str | bool | list[str]] = Field(default_factory=dict)


class RecipientScope(enum.StrEnum):
    OWN_DATA = "own-data"  # results that involve the recipient tenant's data
    ALL = "all"  # every result of the analyses listed


class SealingSuite(enum.StrEnum):
    """HPKE suite a recipient's results are sealed with (see runtime.seal)."""

    X25519 = "x25519"
    MLKEM768_X25519 = "mlkem768-x25519"


_KEY_BYTES = {SealingSuite.X25519: 32, SealingSuite.MLKEM768_X25519: 1184 + 32}


class Recipient(_Frozen):
    name: _Name
    tenant: _Name | None = None
    suite: SealingSuite = SealingSuite.X25519
    public_key: str
    scope: RecipientScope
    analyses: tuple[_Name, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _checked(self) -> Recipient:
        try:
            raw = base64.b64decode(self.public_key, validate=True)
        except binascii.Error:
            raise ValueError("public_key: not base64") from None
        if len(raw) != _KEY_BYTES[self.suite]:
            raise ValueError(
                f"public_key: a {self.suite.value} key is {_KEY_BYTES[self.suite]} bytes"
            )
        if self.scope is RecipientScope.OWN_DATA and self.tenant is None:
            raise ValueError("scope own-data needs a tenant")
        return self


class OutputConstraints(_Frozen):
    """What the runtime checks on every result before sealing it."""

    #: an aggregate result (one with a ``group_size``) covering fewer people is withheld
    min_group_size: Annotated[int, Field(ge=1, le=10_000)] = 5
    #: fields whose values in results must be pseudonyms, never identifiers
    pseudonymised_fields: tuple[str, ...] = ("user.name", "source.ip", "destination.ip")


class LegalBasis(_Frozen):
    article: Annotated[str, Field(min_length=3)]
    text: Annotated[str, Field(min_length=10)]


class ContractClass(enum.StrEnum):
    """How sensitive the analyses a contract allows are; the runtime enforces each class."""

    STANDARD = "standard"
    PROTECTION_OF_MINORS = "protection-of-minors"


@dataclass(frozen=True)
class ClassLimits:
    max_retention_days: int
    min_group_size: int


#: the limits each class imposes (the law frames protection-of-minors tightly)
CLASS_LIMITS = {
    ContractClass.STANDARD: ClassLimits(max_retention_days=3650, min_group_size=1),
    ContractClass.PROTECTION_OF_MINORS: ClassLimits(max_retention_days=90, min_group_size=10),
}


class Safeguarding(_Frozen):
    """Who reviews signals that concern children, and for how long they are kept."""

    #: the function of the people who review (e.g. "référent protection de l'enfance")
    reviewer_role: Annotated[str, Field(min_length=3)]
    #: recipients (by name) who receive the text signals and review them
    reviewers: tuple[_Name, ...] = Field(min_length=1)


class Contract(_Frozen):
    """A data-use contract; every data owner named must sign it."""

    id: _Name
    version: Annotated[int, Field(ge=1)]
    purpose: Annotated[str, Field(min_length=10)]
    legal_basis: LegalBasis
    parties: tuple[Party, ...] = Field(min_length=1)
    datasets: tuple[Dataset, ...] = Field(min_length=1)
    analyses: tuple[Analysis, ...] = Field(min_length=1)
    runtime_measurement: _Digest
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    output_constraints: OutputConstraints = OutputConstraints()
    #: owners that may re-identify pseudonyms of their own data in the results
    #: (by default every data owner); nobody may re-identify another's data
    reidentification_by: tuple[_Name, ...] | None = None
    retention_days: Annotated[int, Field(ge=1, le=3650)]
    valid_from: date
    valid_until: date
    contract_class: ContractClass = ContractClass.STANDARD
    safeguarding: Safeguarding | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        owners = {p.tenant for p in self.parties if p.role == "data-owner"}
        if not owners:
            raise ValueError("parties: at least one data-owner is required")
        for dataset in self.datasets:
            if dataset.tenant not in owners:
                raise ValueError(f"datasets: {dataset.tenant} is not a data-owner party")
        detectors = {a.detector for a in self.analyses}
        if len(detectors) != len(self.analyses):
            raise ValueError("analyses: a detector is listed twice")
        names = [r.name for r in self.recipients]
        if len(set(names)) != len(names):
            raise ValueError("recipients: a name is listed twice")
        for recipient in self.recipients:
            unknown = set(recipient.analyses) - detectors
            if unknown:
                raise ValueError(f"recipients: {recipient.name} names unknown analyses {unknown}")
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        for dataset in self.datasets:
            if dataset.from_day and dataset.until_day and dataset.until_day < dataset.from_day:
                raise ValueError(
                    f"datasets: {dataset.tenant}/{dataset.source} ends before it starts"
                )
        if self.reidentification_by is not None:
            strangers = set(self.reidentification_by) - owners
            if strangers:
                raise ValueError(f"reidentification_by: {sorted(strangers)} are not data owners")
        return self

    def check_class(
        self, required: Mapping[str, ContractClass], *, reviewed: Set[str] = frozenset()
    ) -> None:
        """Refuse, with the reason, analyses whose class this contract does not meet.

        ``required`` maps detectors to the class they need and ``reviewed``
        names those whose results only reviewers may receive (both from the
        detector registry). Checked by the runtime before any key is asked for.
        """
        parties = {p.tenant for p in self.parties}
        for analysis in self.analyses:
            needed = required.get(analysis.detector, ContractClass.STANDARD)
            if needed is ContractClass.STANDARD:
                continue
            where = f"contract {self.id}: analysis {analysis.detector}"
            if self.contract_class is not needed:
                raise ContractError(f"{where} needs a contract of class {needed.value}")
            if self.safeguarding is None:
                raise ContractError(f"{where} needs a safeguarding section naming its reviewers")
            limits = CLASS_LIMITS[needed]
            if self.retention_days > limits.max_retention_days:
                raise ContractError(
                    f"{where}: retention of {self.retention_days} days exceeds the "
                    f"{limits.max_retention_days} allowed for {needed.value}"
                )
            if self.output_constraints.min_group_size < limits.min_group_size:
                raise ContractError(
                    f"{where}: minimum group size {self.output_constraints.min_group_size} is "
                    f"below the {limits.min_group_size} required for {needed.value}"
                )
            for recipient in self.recipients:
                if analysis.detector not in recipient.analyses:
                    continue
                if recipient.tenant not in parties:
                    raise ContractError(
                        f"{where}: recipient {recipient.name} is not a party's own recipient; "
                        "these results never go to a joint recipient"
                    )
                if analysis.detector in reviewed and recipient.name not in (
                    self.safeguarding.reviewers
                ):
                    raise ContractError(
                        f"{where}: recipient {recipient.name} is not a named reviewer "
                        f"({self.safeguarding.reviewer_role})"
                    )
            names = {r.name for r in self.recipients}
            absent = sorted(set(self.safeguarding.reviewers) - names)
            if absent:
                raise ContractError(f"{where}: reviewers {absent} are not recipients")

    def may_reidentify(self, tenant: str) -> bool:
        allowed = self.data_owners if self.reidentification_by is None else self.reidentification_by
        return tenant in allowed

    def covers(self, tenant: str, source: str, day: date) -> bool:
        return any(
            d.tenant == tenant and d.source == source and d.covers(day) for d in self.datasets
        )

    @property
    def data_owners(self) -> tuple[str, ...]:
        return tuple(sorted({p.tenant for p in self.parties if p.role == "data-owner"}))

    def recipient(self, name: str) -> Recipient:
        for recipient in self.recipients:
            if recipient.name == name:
                return recipient
        raise ContractError(f"contract {self.id}: recipient {name!r} is not named in it")

    def canonical(self) -> dict[str, Any]:
        """The JSON form that signatures cover."""
        return self.model_dump(mode="json")

    @classmethod
    def from_yaml(cls, text: str, *, where: str) -> Contract:
        """Parse a contract; errors name the file and the field."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ContractError(f"{where}{line}: not valid YAML") from None
        if not isinstance(document, dict):
            raise ContractError(f"{where}: a contract is a YAML mapping")
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(document)"
            raise ContractError(f"{where}: field {field}: {first['msg']}") from None

    @classmethod
    def load(cls, path: Path) -> Contract:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ContractError(f"{path}: no such contract file") from None
        return cls.from_yaml(text, where=str(path))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.canonical(), sort_keys=False, allow_unicode=True)
