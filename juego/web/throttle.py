"""
Failed logins are throttled: 5 per account and 20 per client address in 15 minutes; past
that, 429 with C{Retry-After} until the oldest counted failure ages out.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from twisted.web.iweb import IRequest

from juego.store.accounts import AccountsStore
from juego.store.users import normaliseEmail
from juego.web.errors import TooManyAttempts

WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20


def clientAddress(request: IRequest) -> str:
    address = request.getClientAddress()
    return str(getattr(address, "host", None) or getattr(address, "name", None) or "?")


class LoginThrottle:
    def __init__(
        self,
        accounts: AccountsStore,
        perAccount: int = PER_ACCOUNT,
        perAddress: int = PER_ADDRESS,
        window: timedelta = WINDOW,
    ) -> None:
        self._accounts = accounts
        self._limits = (perAccount, perAddress)
        self.window = window

    @staticmethod
    def keys(email: str, address: str) -> tuple[str, str]:
        return ("cuenta:" + normaliseEmail(email)[:254], "ip:" + address[:200])

    async def check(self, email: str, address: str, now: datetime) -> None:
        """
        Raise L{TooManyAttempts} if either key has used up its failures.
        """
        wait = 0.0
        for key, limit in zip(self.keys(email, address), self._limits, strict=True):
            failures = await self._accounts.failures(key, now - self.window)
            if failures.count >= limit:
                freed = failures.fechas[failures.count - limit] + self.window
                wait = max(wait, (freed - now).total_seconds())
        if wait > 0:
            raise TooManyAttempts(headers={"Retry-After": str(max(1, math.ceil(wait)))})

    async def failed(self, email: str, address: str, now: datetime) -> None:
        await self._accounts.recordFailure(self.keys(email, address), now)

    async def succeeded(self, email: str, address: str) -> None:
        await self._accounts.clearFailures(self.keys(email, address)[0])
