"""
HTML pages from the Jinja2 templates shipped in C{juego/web/templates}, escaped by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from twisted.web.iweb import IRequest

from juego.model import User, isoformat


def userContext(user: User | None) -> dict[str, Any] | None:
    """
    The C{user} the templates see (the API's C{user} object).
    """
    if user is None:
        return None
    return {
        "id": user.id,
        "nombre": user.nombre,
        "email": user.email,
        "es_admin": user.es_admin,
        "fecha_registro": isoformat(user.fecha_registro),
        "tema": user.tema,
        "idioma": user.idioma,
    }


def plainStatic(name: str) -> str:
    return "/static/" + name


class Renderer:
    """
    One Jinja2 environment for the process, loading templates from the package (never
    from the working directory), with autoescaping on for every template.

    The templates name static files with C{static("js/common.js")}: the URL C{static}
    gives (L{juego.web.static.Assets.url}: the content-hashed name), by default the
    plain C{/static/} one.
    """

    def __init__(self, static: Callable[[str], str] | None = None) -> None:
        self.environment = Environment(
            loader=PackageLoader("juego.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            auto_reload=False,
        )
        self.environment.globals["static"] = static or plainStatic

    def page(
        self,
        request: IRequest,
        template: str,
        user: User | None,
        page: str,
        code: int = 200,
        **context: Any,
    ) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        html = self.environment.get_template(template).render(
            user=userContext(user), page=page, **context
        )
        return html.encode("utf-8")
