#!/usr/bin/env bash
# Debian packages confiance uses, installed when missing. Idempotent.
#   libsodium23: ristretto255 for the OPRF pseudonyms (needed to run)
#   softhsm2:    a PKCS#11 token, the HSM of the tests   (tests only)
#   openssl:     the RFC 3161 time-stamp authority of the tests (tests only)
#   chromium:    the browser of the web-console tests, driven by Playwright (tests only)
#   nfdump, softflowd: a real NetFlow exporter, collector and nfdump -o csv (tests only)
#   memcached:   Swift's tempauth cache, for the S3 server of the tests (tests only)
# Usage: system-deps.sh [--runtime]   (--runtime: only what running needs)
set -euo pipefail
missing=()
ldconfig -p 2>/dev/null | grep -q 'libsodium.so.23' || missing+=(libsodium23)
if [ "${1:-}" != "--runtime" ]; then
  command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v nfcapd >/dev/null 2>&1 || missing+=(nfdump)
  [ -x /usr/sbin/softflowd ] || missing+=(softflowd)
  command -v memcached >/dev/null 2>&1 || missing+=(memcached)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
# the tests start their own collector: Debian's nfcapd service is not wanted here
if printf '%s\n' "${missing[@]}" | grep -qx nfdump && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now nfdump.service >/dev/null 2>&1 || true
fi
# nor Debian's memcached service: the S3 tests start their own
if printf '%s\n' "${missing[@]}" | grep -qx memcached && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now memcached.service >/dev/null 2>&1 || true
fi
