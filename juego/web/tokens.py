"""
Partidas as signed tokens: issuing one writes nothing.

A partida's id carries what the server needs to check its result later: the player, the
mode, the language, when it was issued (to the millisecond) and a random nonce, signed
with an HMAC under the service secret. The words' seed is derived from the signed bytes
(a daily challenge's is the day's seed, L{juego.web.modes.dailySeed}). The id is 35
characters of URL-safe base64, so it fits the columns that hold partida ids and is never
mistaken for the 36-character UUID of a partida written at issue (a race's, or one issued
before tokens).

A token proves the server issued it; whether it was played is in the database, where the
partida's row is written only when it closes (by juego-tcp on the verified-save path).

Without a service secret (a test, a development run) the key is random per process, so a
token is good only on the process that issued it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from datetime import UTC, datetime

from juego.game import IDIOMAS
from juego.model import Partida
from juego.web import modes

VERSION = 1
#: Bytes of HMAC-SHA256 kept: 80 bits, against forgery during a partida's hour.
MAC_BYTES = 10
#: version and mode, language, player, issue time in ms (48 bits), nonce.
_LAYOUT = struct.Struct(">BBI6s4s")
#: The length of a token: 26 bytes in unpadded base64.
LENGTH = 35
_DOMAIN = b"juego:partida:"
_SEED = b"juego:semilla:"


class PartidaTokens:
    """
    Issues and reads partida tokens with one key.

    @param key: the service secret (L{None}: a random key for this process).
    @param dailyKey: the daily challenge's key (L{juego.web.modes.dailySeed}).
    """

    def __init__(self, key: bytes | None, dailyKey: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._dailyKey = dailyKey

    def issue(self, userID: int, idioma: str, modo: str, emitida: datetime) -> Partida:
        """
        A new partida: its id is the signed token, its seed derived from it.
        """
        ms = int(emitida.timestamp() * 1000)
        body = _LAYOUT.pack(
            VERSION << 4 | modes.MODOS.index(modo),
            IDIOMAS.index(idioma),
            userID,
            ms.to_bytes(6, "big"),
            secrets.token_bytes(4),
        )
        token = base64.urlsafe_b64encode(body + self._mac(body)).rstrip(b"=").decode("ascii")
        partida = self._partida(token, body)
        assert partida is not None
        return partida

    def read(self, token: str) -> Partida | None:
        """
        The partida a token stands for, or L{None} if it is not one this key signed.
        """
        if len(token) != LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=")
        except (binascii.Error, ValueError):
            return None
        body, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        # A canonical encoding only: the same partida has one id.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
            return None
        return self._partida(token, body)

    def _mac(self, body: bytes) -> bytes:
        return hmac.digest(self._key, _DOMAIN + body, hashlib.sha256)[:MAC_BYTES]

    def _partida(self, token: str, body: bytes) -> Partida | None:
        head, language, userID, ms, _ = _LAYOUT.unpack(body)
        if head >> 4 != VERSION or (head & 15) >= len(modes.MODOS) or language >= len(IDIOMAS):
            return None  # signed, but of a layout this release does not know
        modo, idioma = modes.MODOS[head & 15], IDIOMAS[language]
        emitida = datetime.fromtimestamp(int.from_bytes(ms, "big") / 1000, UTC)
        if modo == modes.DIARIO:
            seed = modes.dailySeed(modes.dayOf(emitida), idioma, self._dailyKey)
        else:
            derived = hmac.digest(self._key, _SEED + body, hashlib.sha256)
            seed = int.from_bytes(derived[:8], "big") >> 1  # a signed 64-bit column's range
        return Partida(
            id=token, user_id=userID, idioma=idioma, seed=seed, emitida=emitida, modo=modo
        )
