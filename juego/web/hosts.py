"""
The host names juego-web answers for (C{JUEGO_ALLOWED_HOSTS}), checked before routing.

The C{Host} header is the client's to choose. Believed blindly, it would make the CSRF
origin check compare an attacker's C{Origin} with an attacker's C{Host} (DNS rebinding: a
page on C{evil.example} whose name now points at this server passes it), and it is what
every absolute URL the site builds (redirects) is made of. So a request naming any other
host gets 400 C{host_no_permitido} before any handler sees it, and the rest of the site
reads the validated name (L{validatedHost}).

C{JUEGO_ALLOWED_HOSTS} is a comma-separated list of names (C{juego.example.org}), IPv4
addresses or IPv6 addresses (with or without brackets), without ports: any port is
accepted (the listener decides which ports exist). C{*} accepts every well-formed name,
and only when the operator writes it. Unset, the allowed names are loopback's
(C{localhost}, C{127.0.0.1}, C{[::1]}), C{MAIN_SERVER_HOST} and the interface of the
web listener's endpoint.

Behind a reverse proxy the checked name is the one the proxy passes in C{Host} (nginx:
C{proxy_set_header Host $http_host}, the browser's own): C{X-Forwarded-Host} is never
read, so a client cannot get past this check by adding it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from juego.config import ConfigError
from juego.web.errors import HostNotAllowed, errorReply

#: A DNS name (letters, digits, hyphens, underscores; dot-separated, optional final dot).
_NAME = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?"
)
#: A Host header: a name, an IPv4 address or a bracketed IPv6 address, then maybe a port.
_HOST_HEADER = re.compile(r"(\[[0-9a-f:.]+\]|[^\[\]:]+)(?::([0-9]{1,5}))?")
#: Longest Host header looked at (a DNS name has at most 253 characters).
MAX_HOST = 300
#: Endpoint interfaces that mean "every address": they name no host.
WILDCARD_INTERFACES = frozenset({"", "0.0.0.0", "::", "[::]"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: Where the validated host is kept on the request.
_ATTRIBUTE = "_juegoValidatedHost"


def normaliseName(name: str) -> str | None:
    """
    C{name} as compared: lower case, without a final dot, IPv6 addresses in brackets in
    their compressed form; L{None} when it is not a host name or address.
    """
    name = name.strip().lower()
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    if ":" in bare:
        try:
            return f"[{ipaddress.IPv6Address(bare).compressed}]"
        except ValueError:
            return None
    if bare != name or not _NAME.fullmatch(name):
        return None
    return name.rstrip(".")


def parseHost(header: bytes) -> tuple[str, int | None] | None:
    """
    A C{Host} header's normalised name and port; L{None} when it is malformed.
    """
    if len(header) > MAX_HOST:
        return None
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _HOST_HEADER.fullmatch(text.lower())
    if match is None:
        return None
    name = normaliseName(match.group(1))
    port = int(match.group(2)) if match.group(2) is not None else None
    if name is None or (port is not None and not 0 < port <= 65535):
        return None
    return name, port


def endpointInterface(description: str) -> str | None:
    """
    The C{interface} of a C{tcp:}/C{tcp6:}/C{ssl:} server endpoint string, if any.
    """
    kind, _, rest = description.partition(":")
    if kind.strip().lower() not in ("tcp", "tcp6", "ssl"):
        return None
    for part in rest.replace(r"\:", "\0").split(":"):
        key, sep, value = part.partition("=")
        if sep and key == "interface":
            return value.replace("\0", ":")
    return None


class AllowedHosts:
    """
    The names a request's C{Host} may carry.
    """

    def __init__(self, names: Iterable[str]) -> None:
        allowed: set[str] = set()
        self.anyHost = False
        for raw in names:
            if not raw.strip():
                continue
            if raw.strip() == "*":
                self.anyHost = True
                continue
            name = normaliseName(raw)
            if name is None:
                raise ConfigError(f"JUEGO_ALLOWED_HOSTS: {raw.strip()!r} is not a host name")
            allowed.add(name)
        self.names = frozenset(allowed)

    @classmethod
    def default(cls, description: str | None = None, mainHost: str | None = None) -> AllowedHosts:
        """
        Loopback's names, C{mainHost} and the interface of the listening endpoint
        C{description} (neither when it means every address).
        """
        names = list(LOOPBACK_NAMES)
        for extra in (mainHost, endpointInterface(description or "")):
            if extra is not None and extra.strip().lower() not in WILDCARD_INTERFACES:
                names.append(extra)
        return cls(names)

    @classmethod
    def fromEnvironment(
        cls, description: str | None = None, environ: Mapping[str, str] | None = None
    ) -> AllowedHosts:
        """
        C{JUEGO_ALLOWED_HOSTS}, or L{default} for the web listener C{description} and
        C{MAIN_SERVER_HOST} when it is unset or empty.
        """
        env = os.environ if environ is None else environ
        configured = env.get("JUEGO_ALLOWED_HOSTS", "").strip()
        if configured:
            return cls(configured.split(","))
        return cls.default(description, env.get("MAIN_SERVER_HOST"))

    def allows(self, name: str) -> bool:
        return self.anyHost or name in self.names

    def check(self, request: IRequest) -> str:
        """
        The request's validated host (C{name} or C{name:port}, normalised), also kept
        for L{validatedHost}; L{HostNotAllowed} when it has none, several, a malformed
        one or one not allowed.
        """
        headers = request.requestHeaders.getRawHeaders(b"host") or []
        parsed = parseHost(headers[0]) if len(headers) == 1 else None
        if parsed is None or not self.allows(parsed[0]):
            raise HostNotAllowed()
        name, port = parsed
        host = name if port is None else f"{name}:{port}"
        setattr(request, _ATTRIBUTE, host)
        return host


def validatedHost(request: IRequest) -> str | None:
    """
    The host L{AllowedHosts.check} let through for C{request}; L{None} if it was not
    checked.
    """
    host = getattr(request, _ATTRIBUTE, None)
    return host if isinstance(host, str) else None


class HostCheck(Resource):
    """
    Wraps the site's router (a leaf): answers 400 C{host_no_permitido} for a request
    whose host is not allowed, and lets the router answer the others.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource, hosts: AllowedHosts) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._hosts = hosts

    def render(self, request: IRequest) -> Any:
        try:
            self._hosts.check(request)
        except HostNotAllowed as e:
            return errorReply(request, e)
        return self._wrapped.render(request)
