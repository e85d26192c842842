"""PKCS#11 keystore against a real SoftHSM2 token: the KEK never leaves it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import PIN

from confiance.errors import KeyStoreError
from confiance.keys import SoftwareKeyStore
from confiance.keys.pkcs11 import SOFTHSM2_MODULE, Pkcs11KeyStore, TokenConfig, create_kek

pytestmark = pytest.mark.pkcs11


@pytest.fixture
def token(softhsm: str) -> Iterator[TokenConfig]:
    config = TokenConfig(SOFTHSM2_MODULE, softhsm, f"kek-{uuid.uuid4().hex[:12]}")
    create_kek(config, pin=PIN)
    yield config


def _store(token: TokenConfig, tmp_path: Path, pin: str = PIN) -> Pkcs11KeyStore:
    software = SoftwareKeyStore.create(tmp_path / "sw.json", owner="academie", passphrase="p")
    return Pkcs11KeyStore(token, pin=pin, software=software)


def test_wrapping_happens_in_the_token_and_binds_the_context(
    token: TokenConfig, tmp_path: Path
) -> None:
    store = _store(token, tmp_path)
    dek = os.urandom(32)
    wrapped = store.wrap_key(dek, context=b"confiance-dek/1|academie|d1")
    assert wrapped.startswith(b"CFH1") and dek not in wrapped
    assert store.unwrap_key(wrapped, context=b"confiance-dek/1|academie|d1") == bytearray(dek)
    with pytest.raises(KeyStoreError, match="cannot unwrap data key"):
        store.unwrap_key(wrapped, context=b"confiance-dek/1|academie|d2")
    with pytest.raises(KeyStoreError, match="cannot unwrap data key"):
        store.unwrap_key(
            wrapped[:-1] + bytes([wrapped[-1] ^ 1]), context=b"confiance-dek/1|academie|d1"
        )
    store.close()


def test_the_kek_is_not_extractable(token: TokenConfig) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType

    session = pkcs11.lib(token.module).get_token(token_label=token.token_label).open(user_pin=PIN)
    try:
        key = session.get_key(label=token.kek_label, key_type=KeyType.AES)
        assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.VALUE]
    finally:
        session.close()


def test_refusals(token: TokenConfig, tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="cannot be opened"):
        _store(token, tmp_path, pin="000000")
    with pytest.raises(KeyStoreError, match=f"already holds '{token.kek_label}'"):
        create_kek(token, pin=PIN)
    missing = TokenConfig(token.module, token.token_label, "no-such-key")
    with pytest.raises(KeyStoreError, match="no single key labelled 'no-such-key'"):
        Pkcs11KeyStore(
            missing,
            pin=PIN,
            software=SoftwareKeyStore.create(tmp_path / "x.json", owner="academie", passphrase="p"),
        )


def test_key_release_with_the_kek_in_the_token(token: TokenConfig, tmp_path: Path) -> None:
    from tests.runtime.test_runtime_parts import _Setup

    setup = _Setup(tmp_path / "setup")
    store = _store(token, tmp_path)
    setup.keystores["academie"] = store  # type: ignore[assignment]
    setup.dataset = type(setup.dataset)(
        "d1", "academie", "sso", store.wrap_key(b"\x07" * 32, context=setup.dataset.wrap_context())
    )
    setup.signatures["academie"] = __import__("confiance.contracts", fromlist=["x"]).sign_contract(
        setup.contract, tenant="academie", key=store.signing_key()
    )
    setup.public["academie"] = store.signing_key().public_key()
    released = setup.release(setup.service())
    from confiance.runtime import open_sealed
    from confiance.runtime.keyrelease import dek_info

    assert (
        open_sealed(released["d1"], setup.ephemeral, info=dek_info("run-1", "d1")) == b"\x07" * 32
    )
    store.close()
