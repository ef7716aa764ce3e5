"""
Players' accounts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime

import attrs
from sqlalchemy import Connection, Row, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from twisted.internet.defer import Deferred

from juego.game.words import IDIOMAS
from juego.model import User, utcnow
from juego.store import schema as s
from juego.store.pool import DBThreadPool


class EmailInUse(Exception):
    """
    Another account already has this email.
    """


def normaliseEmail(email: str) -> str:
    return email.strip().lower()


#: The rules for an account's fields, shared by the web API and C{juego-admin}.
NOMBRE_MAX = 40
BIO_MAX = 500
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
EMAIL_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidField(ValueError):
    """
    An account field breaks its rule; the message is Spanish, fit for the player.

    @ivar campo: the field at fault (the form shows the message next to it), if known.
    """

    def __init__(self, message: str, campo: str | None = None) -> None:
        super().__init__(message)
        self.campo = campo


def _hasControl(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in allowed for c in text)


def checkNombre(value: object) -> str:
    """
    A player's name: free text (markup included), trimmed, NFC, 1-40 characters.
    """
    if not isinstance(value, str):
        raise InvalidField("El nombre debe ser un texto.")
    nombre = unicodedata.normalize("NFC", value.strip())
    if not 1 <= len(nombre) <= NOMBRE_MAX:
        raise InvalidField(f"El nombre debe tener entre 1 y {NOMBRE_MAX} caracteres.")
    if _hasControl(nombre):
        raise InvalidField("El nombre no puede contener caracteres de control.")
    return nombre


def checkEmail(value: object) -> str:
    """
    An email address, normalised (trimmed, lowercase).
    """
    if not isinstance(value, str):
        raise InvalidField("El correo electrónico debe ser un texto.")
    email = normaliseEmail(value)
    if len(email) > EMAIL_MAX or not _EMAIL.match(email):
        raise InvalidField("El correo electrónico no es válido.")
    return email


#: zxcvbn's score (0-4) a new password needs: 3 is "safely unguessable", about 10^8
#: guesses or more, which a throttled online attacker never gets to and a slow hash
#: (argon2id) makes costly offline.
PASSWORD_SCORE = 3
#: zxcvbn refuses longer input; a password this long is judged by its start.
_ESTIMATE_MAX = 72

#: Why a password is guessable, in the player's words, by the pattern zxcvbn found
#: (dictionary patterns by dictionary), most telling first.
_REASONS = [
    ("passwords", "es una de las contraseñas más usadas"),
    ("user_inputs", "contiene tu nombre o tu correo electrónico"),
    ("spatial", "sigue un recorrido del teclado (como «qwerty»)"),
    ("repeat", "repite los mismos caracteres"),
    ("sequence", "es una secuencia (como «abcd» o «1234»)"),
    ("date", "es o contiene una fecha"),
    ("english_wikipedia", "es una palabra común"),
    ("us_tv_and_film", "es una palabra o un nombre comunes"),
    ("surnames", "es un apellido común"),
    ("male_names", "es un nombre propio común"),
    ("female_names", "es un nombre propio común"),
]


def _compact(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if c.isalnum())


def _madeOfUserInputs(password: str, userInputs: Sequence[str]) -> bool:
    """
    Whether C{password} is little more than the account's own name and email run together
    (C{carla-phone} for Carla Phone, carla-phone@example.org): zxcvbn scores such a
    password by its words and may let it through.
    """
    rest = _compact(password)
    pieces = {_compact(v) for value in userInputs for v in [value, *re.split(r"[@.\s_-]+", value)]}
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= 3:
            rest = rest.replace(piece, "")
    return len(rest) < 4


def _guessable(password: str, userInputs: Sequence[str]) -> str | None:
    """
    Why zxcvbn finds C{password} guessable (Spanish), or C{None} if it is strong enough.
    """
    from zxcvbn import zxcvbn

    if _madeOfUserInputs(password, userInputs):
        return "contiene tu nombre o tu correo electrónico"

    inputs = [part for value in userInputs for part in re.split(r"[@.\s_-]+", value) if part]
    result = zxcvbn(password[:_ESTIMATE_MAX], user_inputs=[*userInputs, *inputs])
    if result["score"] >= PASSWORD_SCORE:
        return None
    found = {m.get("dictionary_name") or m["pattern"] for m in result["sequence"]}
    for key, reason in _REASONS:
        if key in found:
            return reason
    return "es demasiado corta o sencilla"


def checkPassword(value: object, userInputs: Sequence[str] = ()) -> str:
    """
    A new password, per NIST SP 800-63B: 8 to 1024 characters, not all whitespace, no
    composition rules, and not common or guessable (zxcvbn's estimate, which also knows
    the account's own name and email from C{userInputs}). Only new passwords are
    checked: an account with an older, weaker password still logs in.
    """
    return checkGuessable(checkPasswordShape(value), userInputs)


def checkPasswordShape(value: object) -> str:
    """
    The cheap half of L{checkPassword}: a text of 8 to 1024 characters, not all whitespace.
    """
    if not isinstance(value, str):
        raise InvalidField("La contraseña debe ser un texto.", campo="password")
    if len(value) < PASSWORD_MIN:
        raise InvalidField(
            f"La contraseña debe tener al menos {PASSWORD_MIN} caracteres.", campo="password"
        )
    if len(value) > PASSWORD_MAX:
        raise InvalidField(
            f"La contraseña no puede tener más de {PASSWORD_MAX} caracteres.", campo="password"
        )
    if not value.strip():
        raise InvalidField("La contraseña no puede ser solo espacios.", campo="password")
    return value


def checkGuessable(value: str, userInputs: Sequence[str] = ()) -> str:
    """
    The costly half of L{checkPassword} (zxcvbn: up to tens of milliseconds of CPU, so
    juego-web runs it on its hashing threads): refuse a common or guessable password.
    """
    reason = _guessable(value, userInputs)
    if reason is not None:
        raise InvalidField(
            f"Esa contraseña es fácil de adivinar: {reason}. Prueba con una frase de "
            "varias palabras que no tengan relación entre sí.",
            campo="password",
        )
    return value


def checkBio(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidField("La biografía debe ser un texto.")
    bio = unicodedata.normalize("NFC", value.strip())
    if len(bio) > BIO_MAX:
        raise InvalidField(f"La biografía no puede tener más de {BIO_MAX} caracteres.")
    if _hasControl(bio, allowed="\n\t"):
        raise InvalidField("La biografía no puede contener caracteres de control.")
    return bio


#: The site's themes: light, dark, or the device's choice.
TEMAS = ("claro", "oscuro", "sistema")


def checkTema(value: object) -> str:
    if value not in TEMAS:
        raise InvalidField("«tema» debe ser «claro», «oscuro» o «sistema».", campo="tema")
    return str(value)


def checkIdioma(value: object) -> str:
    if value not in IDIOMAS:
        raise InvalidField(
            "«idioma» debe ser uno de: " + ", ".join(f"«{i}»" for i in IDIOMAS) + ".",
            campo="idioma",
        )
    return str(value)


@attrs.frozen
class UserSummary:
    """
    An account with its aggregates, as the admin page lists it.
    """

    user: User
    puntaje_maximo: int
    partidas_jugadas: int


def _user(row: Row) -> User:
    return User(
        id=row.id,
        nombre=row.nombre,
        email=row.email,
        es_admin=bool(row.es_admin),
        fecha_registro=row.fecha_registro,
        bio=row.bio,
        tema=row.tema,
        idioma=row.idioma,
    )


userFromRow = _user

_USER_COLUMNS = (
    s.users.c.id,
    s.users.c.nombre,
    s.users.c.email,
    s.users.c.es_admin,
    s.users.c.fecha_registro,
    s.users.c.bio,
    s.users.c.tema,
    s.users.c.idioma,
)
USER_COLUMNS = _USER_COLUMNS


class UsersStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def create(
        self,
        nombre: str,
        email: str,
        passwordHash: str,
        esAdmin: bool = False,
        now: datetime | None = None,
    ) -> Deferred[User]:
        """
        Make an account (and its empty aggregates). Fails with L{EmailInUse}.
        """
        when = now or utcnow()
        email = normaliseEmail(email)

        def work(conn: Connection) -> User:
            userID = conn.execute(
                insert(s.users)
                .values(
                    nombre=nombre,
                    email=email,
                    password_hash=passwordHash,
                    es_admin=esAdmin,
                    bio="",
                    fecha_registro=when,
                )
                .returning(s.users.c.id)
            ).scalar_one()
            conn.execute(insert(s.user_aggregates).values(user_id=userID))
            conn.execute(
                update(s.totals).where(s.totals.c.id == 1).values(usuarios=s.totals.c.usuarios + 1)
            )
            return User(userID, nombre, email, esAdmin, when, "")

        def translate(failure):
            failure.trap(IntegrityError)
            raise EmailInUse(email)

        return self._pool.write(work).addErrback(translate)

    def get(self, userID: int) -> Deferred[User | None]:
        def work(conn: Connection) -> User | None:
            row = conn.execute(select(*_USER_COLUMNS).where(s.users.c.id == userID)).first()
            return None if row is None else _user(row)

        return self._pool.read(work)

    def byEmail(self, email: str) -> Deferred[tuple[User, str] | None]:
        """
        The account with this email and its password hash, for logging in.
        """

        def work(conn: Connection) -> tuple[User, str] | None:
            row = conn.execute(
                select(*_USER_COLUMNS, s.users.c.password_hash).where(
                    s.users.c.email == normaliseEmail(email)
                )
            ).first()
            return None if row is None else (_user(row), row.password_hash)

        return self._pool.read(work)

    def list(self, limit: int = 100, offset: int = 0) -> Deferred[Sequence[User]]:
        def work(conn: Connection) -> list[User]:
            rows = conn.execute(
                select(*_USER_COLUMNS).order_by(s.users.c.id).limit(limit).offset(offset)
            )
            return [_user(row) for row in rows]

        return self._pool.read(work)

    def updateProfile(
        self,
        userID: int,
        nombre: str | None = None,
        bio: str | None = None,
        tema: str | None = None,
        idioma: str | None = None,
    ) -> Deferred[User | None]:
        """
        Change a player's name, bio and/or preferences (values already checked; C{None}:
        unchanged); the updated account, or C{None} if there is no such user.
        """
        values: dict[str, str] = {}
        if nombre is not None:
            values["nombre"] = nombre
        if bio is not None:
            values["bio"] = bio
        if tema is not None:
            values["tema"] = tema
        if idioma is not None:
            values["idioma"] = idioma

        def work(conn: Connection) -> User | None:
            if values:
                conn.execute(update(s.users).where(s.users.c.id == userID).values(values))
            row = conn.execute(select(*_USER_COLUMNS).where(s.users.c.id == userID)).first()
            return None if row is None else _user(row)

        return self._pool.write(work)

    def setAdmin(self, userID: int, esAdmin: bool = True) -> Deferred[bool]:
        """
        Grant (or take away) admin rights; C{False} if there is no such user.
        """

        def work(conn: Connection) -> bool:
            result = conn.execute(
                update(s.users).where(s.users.c.id == userID).values(es_admin=esAdmin)
            )
            return bool(result.rowcount)

        return self._pool.write(work)

    def setPasswordHash(self, userID: int, passwordHash: str) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                update(s.users).where(s.users.c.id == userID).values(password_hash=passwordHash)
            )

        return self._pool.write(work)

    def passwordHash(self, userID: int) -> Deferred[str | None]:
        def work(conn: Connection) -> str | None:
            return conn.execute(
                select(s.users.c.password_hash).where(s.users.c.id == userID)
            ).scalar_one_or_none()

        return self._pool.read(work)

    def certifiedWpm(self, userID: int) -> Deferred[float | None]:
        """
        The speed (wpm) the player proved in the certification test; C{None} if they never
        passed one (or there is no such user).
        """

        def work(conn: Connection) -> float | None:
            return conn.execute(
                select(s.users.c.velocidad_certificada).where(s.users.c.id == userID)
            ).scalar_one_or_none()

        return self._pool.read(work)

    def certify(self, userID: int, wpm: float) -> Deferred[float | None]:
        """
        Record a passed certification at C{wpm}, keeping the highest speed ever certified;
        the certified speed now stored (C{None} if there is no such user).
        """
        column = s.users.c.velocidad_certificada

        def work(conn: Connection) -> float | None:
            conn.execute(
                update(s.users)
                .where(s.users.c.id == userID)
                .values(
                    velocidad_certificada=case(
                        (column.is_(None), wpm), (column < wpm, wpm), else_=column
                    )
                )
            )
            return conn.execute(select(column).where(s.users.c.id == userID)).scalar_one_or_none()

        return self._pool.write(work)

    def summaries(self, limit: int = 500, offset: int = 0) -> Deferred[Sequence[UserSummary]]:
        """
        Accounts in id order, each with its best and games played.
        """

        def work(conn: Connection) -> list[UserSummary]:
            agg = s.user_aggregates
            rows = conn.execute(
                select(*_USER_COLUMNS, agg.c.puntaje_maximo, agg.c.partidas_jugadas)
                .select_from(s.users.outerjoin(agg, agg.c.user_id == s.users.c.id))
                .order_by(s.users.c.id)
                .limit(limit)
                .offset(offset)
            )
            return [
                UserSummary(_user(r), r.puntaje_maximo or 0, r.partidas_jugadas or 0) for r in rows
            ]

        return self._pool.read(work)
