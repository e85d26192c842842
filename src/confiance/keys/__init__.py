"""Key hierarchy: a tenant KEK in a keystore wraps one fresh DEK per batch.

The software keystore (embedded default) keeps every secret encrypted at rest
under a passphrase (scrypt + AES-256-GCM). Hardware keystores (PKCS#11) plug in
behind the same :class:`KeyStore` protocol.
"""

from confiance.keys.envelope import (
    DEK_BYTES,
    dataset_aad,
    decrypt_blob,
    encrypt_blob,
    new_dek,
    zero,
)
from confiance.keys.keystore import KeyStore, SecretName, SoftwareKeyStore

__all__ = [
    "DEK_BYTES",
    "KeyStore",
    "SecretName",
    "SoftwareKeyStore",
    "dataset_aad",
    "decrypt_blob",
    "encrypt_blob",
    "new_dek",
    "zero",
]
