"""confiance: sovereign pooling of security logs between public bodies.

Raw data stays with its owner; people appear only as pseudonyms; every use of
data is allowed by a contract every owner signed; analyses run in an attested
runtime; results reach only named recipients; storage is encrypted and
erasure-coded; every step is written to a signed, tamper-evident ledger.
"""

__version__ = "0.1.0"
