"""
What a state-changing API request must carry: a JSON content type (415 otherwise) and,
when the browser names its origin, this site's own (403 otherwise).

Together with the session cookie's SameSite=Lax this keeps other sites from acting for a
signed-in player: a cross-site form cannot send JSON, and a cross-site script's request
carries a foreign Origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from twisted.web.iweb import IRequest

from juego.web.errors import CrossSite, UnsupportedType
from juego.web.hosts import validatedHost

STATE_CHANGING = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})
DEFAULT_PORTS = {"http": "80", "https": "443"}


def _netloc(scheme: str, netloc: str) -> str:
    netloc = netloc.strip().lower()
    default = DEFAULT_PORTS.get(scheme)
    if default and netloc.endswith(":" + default):
        netloc = netloc[: -len(default) - 1]
    return netloc


def sameOrigin(request: IRequest, origin: str) -> bool:
    """
    Whether C{origin} (an Origin header) names the host this request was sent to: the
    host L{juego.web.hosts} validated (one this site serves, never a raw C{Host}), and
    https when the request came over https.
    """
    parts = urlsplit(origin.strip())
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        return False
    host = validatedHost(request)
    if not host:
        return False
    scheme = "https" if request.isSecure() else "http"
    # An http page (anyone on the network path can write one) may not act on the https
    # site of the same name. The other way round is let through: a request that looks
    # like http may have come through a TLS proxy nobody named in JUEGO_TRUSTED_PROXIES.
    if scheme == "https" and parts.scheme != "https":
        return False
    return _netloc(parts.scheme, parts.netloc) == _netloc(scheme, host)


def isJSON(contentType: bytes | None) -> bool:
    if contentType is None:
        return False
    media = contentType.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


def checkStateChange(request: IRequest) -> None:
    """
    Raise L{CrossSite} or L{UnsupportedType} for a state-changing request that may not
    go through.
    """
    if request.method not in STATE_CHANGING:
        return
    origin = request.getHeader(b"origin")
    if origin is not None and not sameOrigin(request, origin.decode("latin-1")):
        raise CrossSite()
    if not isJSON(request.getHeader(b"content-type")):
        raise UnsupportedType()
