"""Software keystore and envelope encryption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confiance.errors import KeyStoreError
from confiance.keys import SecretName, SoftwareKeyStore, decrypt_blob, encrypt_blob, new_dek, zero


def test_keystore_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    created = SoftwareKeyStore.create(path, owner="academie", passphrase="correct horse")
    wrapped = created.wrap_key(b"k" * 32, context=b"dataset-1")
    opened = SoftwareKeyStore.open(path, passphrase="correct horse")
    assert opened.unwrap_key(wrapped, context=b"dataset-1") == bytearray(b"k" * 32)
    assert opened.public_keys() == created.public_keys()
    with pytest.raises(KeyStoreError, match="wrong passphrase or altered file"):
        SoftwareKeyStore.open(path, passphrase="wrong")
    with pytest.raises(KeyStoreError, match="cannot unwrap data key"):
        opened.unwrap_key(wrapped, context=b"dataset-2")
    assert path.stat().st_mode & 0o777 == 0o600


def test_keystore_secrets_never_appear_in_the_file_or_repr(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    share = bytes(range(32))
    store = SoftwareKeyStore.create(
        path,
        owner="region",
        passphrase="pw",
        secrets=(SecretName.KEK,),
        given={SecretName.OPRF_SHARE: share},
    )
    secret = store.oprf_share()
    assert secret == share
    assert secret not in path.read_bytes()
    assert secret.hex() not in path.read_text() and "pw" not in repr(store)
    store.close()
    with pytest.raises(KeyStoreError, match="holds no"):
        store.oprf_share()


def test_altered_public_header_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    SoftwareKeyStore.create(path, owner="lycees", passphrase="pw")
    document = json.loads(path.read_text())
    document["header"]["owner"] = "mallory"
    path.write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match="wrong passphrase or altered file"):
        SoftwareKeyStore.open(path, passphrase="pw")


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="empty passphrase"):
        SoftwareKeyStore.create(tmp_path / "a.json", owner="x", passphrase="")
    SoftwareKeyStore.create(tmp_path / "b.json", owner="x", passphrase="p")
    with pytest.raises(KeyStoreError, match="already exists"):
        SoftwareKeyStore.create(tmp_path / "b.json", owner="x", passphrase="p")
    with pytest.raises(KeyStoreError, match="not found"):
        SoftwareKeyStore.open(tmp_path / "none.json", passphrase="p")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(KeyStoreError, match="malformed"):
        SoftwareKeyStore.open(tmp_path / "c.json", passphrase="p")


def test_envelope_binds_associated_data_and_detects_tampering() -> None:
    dek = new_dek()
    blob = encrypt_blob(b"events", dek, aad=b"academie|1")
    assert decrypt_blob(blob, dek, aad=b"academie|1") == b"events"
    assert encrypt_blob(b"events", dek, aad=b"academie|1") != blob  # fresh nonce each time
    for bad_aad, bad_blob in (
        (b"region|1", blob),
        (b"academie|1", blob[:-1] + b"\x00"),
        (b"academie|1", b"short"),
    ):
        with pytest.raises(KeyStoreError, match="cannot decrypt"):
            decrypt_blob(bad_blob, dek, aad=bad_aad)
    zero(dek)
    assert dek == bytearray(32)
