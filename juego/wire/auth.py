"""
Service authentication: a challenge–response over the line protocol.

The secret never crosses the wire and a recorded handshake cannot be replayed:

  1. client → C{{"action": "auth_challenge"}}; server → C{{"success": true, "nonce": N}},
     a fresh random server nonce, good for one attempt on this connection;
  2. client → C{{"action": "auth", "client_nonce": C, "proof": HMAC(secret, client|N|C)}};
     server checks it and answers C{{"success": true, "proof": HMAC(secret, server|N|C)}},
     so the client knows the server has the secret too (mutual).

HMAC-SHA256, hex. A failed proof answers C{unauthorized} and the nonce is spent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

NONCE_BYTES = 32


def newNonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def _proof(secret: bytes, role: str, serverNonce: str, clientNonce: str) -> str:
    message = f"juego-auth-v1|{role}|{serverNonce}|{clientNonce}".encode("ascii")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def clientProof(secret: bytes, serverNonce: str, clientNonce: str) -> str:
    return _proof(secret, "client", serverNonce, clientNonce)


def serverProof(secret: bytes, serverNonce: str, clientNonce: str) -> str:
    return _proof(secret, "server", serverNonce, clientNonce)


def check(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected, given)
