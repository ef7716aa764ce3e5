"""
Password guessing is throttled in the database, so that it holds under concurrency and
across web nodes: an attempt is I{reserved} (an atomic conditional UPDATE of a counter
row, L{juego.store.accounts.AccountsStore.reserve}) before its password is checked, and
given back if the password was right. So N concurrent guesses cost at most the limit in
password checks, however they are timed; past it the answer is 429 with C{Retry-After}
until the key's window (opened by its first attempt) closes.

Who is counted depends on the browser (OWASP device cookies, L{juego.web.devices}):

  - a browser with a valid device cookie for the account: that device's own attempts,
    L{PER_DEVICE} per window; its failures lock only that device cookie;
  - anyone else (a stranger): the account's strangers' attempts, L{PER_ACCOUNT} per
    window, and the client address's, L{PER_ADDRESS} per window.

So strangers' failures slow guessing at an account to L{PER_ACCOUNT} per window, from any
number of addresses, but never lock its owner's browsers out. Sign-ups are counted per
address (L{SIGNUPS_PER_ADDRESS} per L{SIGNUP_WINDOW}).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from twisted.web.iweb import IRequest

from juego.store.accounts import AccountsStore, Limit
from juego.store.users import normaliseEmail
from juego.web.errors import TooManyAttempts, TooManyRequests, retryAfter

WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20
PER_DEVICE = 10
SIGNUP_WINDOW = timedelta(hours=1)
#: Enough for a classroom behind one address; a script's flood of accounts stops here.
SIGNUPS_PER_ADDRESS = 20
#: The longest window: counters older than this are purged.
LONGEST = max(WINDOW, SIGNUP_WINDOW)


def clientAddress(request: IRequest) -> str:
    address = request.getClientAddress()
    return str(getattr(address, "host", None) or getattr(address, "name", None) or "?")


class LoginThrottle:
    def __init__(
        self,
        accounts: AccountsStore,
        perAccount: int = PER_ACCOUNT,
        perAddress: int = PER_ADDRESS,
        perDevice: int = PER_DEVICE,
        window: timedelta = WINDOW,
    ) -> None:
        self._accounts = accounts
        self._perAccount, self._perAddress, self._perDevice = perAccount, perAddress, perDevice
        self.window = window

    def strangers(self, email: str, address: str) -> list[Limit]:
        """
        A stranger's attempt at an account: the account's lane first (cleared when the
        password is right), then the address's.
        """
        return [
            Limit("cuenta:" + normaliseEmail(email)[:254], self._perAccount, self.window),
            Limit("ip:" + address[:200], self._perAddress, self.window),
        ]

    def device(self, deviceHash: str) -> list[Limit]:
        """
        A known device's attempt at its account.
        """
        return [Limit("dispositivo:" + deviceHash, self._perDevice, self.window)]

    @staticmethod
    def signup(address: str) -> list[Limit]:
        return [Limit("registro:" + address[:200], SIGNUPS_PER_ADDRESS, SIGNUP_WINDOW)]

    async def reserve(
        self, limits: Sequence[Limit], now: datetime, error: type[TooManyAttempts | TooManyRequests]
    ) -> None:
        """
        Take one attempt under every key of C{limits}, or raise C{error} (429) with the
        wait in C{Retry-After}.
        """
        wait = await self._accounts.reserve(limits, now)
        if wait is not None:
            raise error(headers=retryAfter(wait.total_seconds()))

    async def release(self, limits: Sequence[Limit], succeeded: bool) -> None:
        """
        Give back a reserved attempt that did not fail; when the password was right, the
        first key's (the account's or the device's) attempts are forgotten too.
        """
        clear = [limits[0].key] if succeeded else []
        await self._accounts.release([limit.key for limit in limits], clear)
