"""
Password hashing with argon2id, off the reactor thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool

#: Runs a blocking function and returns a Deferred of its result.
Runner = Callable[..., Deferred[Any]]


class Passwords:
    """
    Hashes and checks passwords (argon2id, argon2-cffi's recommended parameters unless a
    hasher is given); the work runs through C{run}, normally a thread pool.
    """

    def __init__(self, run: Runner, hasher: PasswordHasher | None = None) -> None:
        self._run = run
        self._hasher = hasher or PasswordHasher()
        # Checked against when the account does not exist, so that a login costs the
        # same whether or not the email is known.
        self._dummy = self._hasher.hash("juego: no such account")

    @classmethod
    def inThreads(cls, reactor: Any, hasher: PasswordHasher | None = None) -> Passwords:
        def run(f: Callable[..., Any], *a: Any) -> Deferred[Any]:
            return deferToThreadPool(reactor, reactor.getThreadPool(), f, *a)

        return cls(run, hasher)

    @classmethod
    def synchronous(cls, hasher: PasswordHasher | None = None) -> Passwords:
        """
        Hash in the calling thread (for tests and command-line tools).
        """
        return cls(maybeDeferred, hasher)

    def hash(self, password: str) -> Deferred[str]:
        return self._run(self._hasher.hash, password)

    def verify(self, passwordHash: str | None, password: str) -> Deferred[bool]:
        """
        Whether C{password} matches C{passwordHash}; with no hash, spend the same time
        and answer C{False}.
        """

        def check() -> bool:
            try:
                return bool(self._hasher.verify(passwordHash or self._dummy, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        if passwordHash is None:
            return self._run(check).addCallback(lambda _: False)
        return self._run(check)

    def needsRehash(self, passwordHash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(passwordHash)
        except InvalidHashError:
            return True
