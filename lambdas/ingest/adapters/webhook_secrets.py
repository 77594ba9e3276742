"""Webhook signing secrets, sealed with a KMS key: the API function may only encrypt, the delivery
function may only decrypt (infra/webhooks.py grants exactly that), and the encryption context binds
each ciphertext to its account and webhook, so a ciphertext copied to another item does not open.
docs/decision_log.md (2026-11-30, webhook secrets) says why not a hash, and why not a derived key."""

from __future__ import annotations

import base64
import threading
import time

from ingest.adapters.aws_errors import translated

# A warm delivery function reuses what it decrypted for this long: one Decrypt per webhook per
# sandbox per 5 minutes, not per delivery (KMS bills each request; docs/capacity.md).
CACHE_SECONDS = 300


@translated
class WebhookSecrets:
    def __init__(self, kms_client, key_id: str):
        self._kms = kms_client
        self._key_id = key_id
        self._cache: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _context(account_id: str, webhook_id: str) -> dict[str, str]:
        return {"account_id": account_id, "webhook_id": webhook_id}

    def seal(self, secret: str, account_id: str, webhook_id: str) -> str:
        answer = self._kms.encrypt(KeyId=self._key_id, Plaintext=secret.encode("utf-8"),
                                   EncryptionContext=self._context(account_id, webhook_id))
        return base64.b64encode(answer["CiphertextBlob"]).decode("ascii")

    def open(self, sealed: str, account_id: str, webhook_id: str) -> str:
        cache_key = (account_id, webhook_id, sealed)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached and cached[0] > now:
                return cached[1]
        answer = self._kms.decrypt(KeyId=self._key_id, CiphertextBlob=base64.b64decode(sealed),
                                   EncryptionContext=self._context(account_id, webhook_id))
        secret = answer["Plaintext"].decode("utf-8")
        with self._lock:
            self._cache[cache_key] = (now + CACHE_SECONDS, secret)
        return secret
