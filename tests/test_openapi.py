"""
The OpenAPI document (L{juego.web.openapi}) against the code: a valid OpenAPI 3.1
document, served at C{/api/openapi.json} and rendered at C{/api/docs}, that describes every
Klein route under C{/api} with each of its methods. (Every JSON reply of the web tests is
also checked against it: C{tests/websupport.py}, L{checkAgainstDocument}.)
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from klein import Klein
from openapi_spec_validator import validate
from twisted.trial.unittest import SynchronousTestCase

import juego.web
from juego.web import openapi
from juego.web.admin import AdminAPI
from juego.web.api import API
from juego.web.app import Application
from juego.web.certification import CertificationAPI
from juego.web.pages import Pages

from .websupport import WebTestCase

#: Where each Klein router is mounted. A new router must be added here, so that its routes
#: are held to the document too.
MOUNTS: dict[int, str] = {
    id(Application.router): "",
    id(API.router): "/api",
    id(AdminAPI.router): "/api/admin",
    id(Pages.router): "",
    id(CertificationAPI.router): "/api/certificacion",
}

_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _openapiPath(rule: str) -> str:
    # werkzeug's <int:user_id> is OpenAPI's {user_id}.
    return re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", rule)


def routedOperations() -> set[tuple[str, str]]:
    """
    Every (method, path) a Klein router under /api answers, branches excluded.
    """
    found = set()
    for router, prefix in _routers():
        for rule in router.url_map.iter_rules():
            if rule.methods is None:
                continue  # a branch= mount point: its routes are listed with its router
            # A mounted router's "/" is its mount point itself.
            path = prefix if rule.rule == "/" and prefix else prefix + _openapiPath(rule.rule)
            if not path.startswith("/api/"):
                continue
            for method in (rule.methods or set()) - _IGNORED_METHODS:
                found.add((method.lower(), path))
    return found


def _routers() -> list[tuple[Klein, str]]:
    routers = []
    for module in pkgutil.iter_modules(juego.web.__path__, "juego.web."):
        for value in vars(importlib.import_module(module.name)).values():
            router = getattr(value, "router", None)
            if (
                isinstance(value, type)
                and isinstance(router, Klein)
                and value.__module__ == module.name
            ):
                routers.append((router, MOUNTS.get(id(router))))
    unmounted = [r for r, prefix in routers if prefix is None]
    if unmounted:
        raise AssertionError(f"routers with no entry in MOUNTS: {unmounted}")
    return [(r, p) for r, p in routers if p is not None]


class DocumentTests(SynchronousTestCase):
    def test_valid(self) -> None:
        """
        The document is valid OpenAPI 3.1.
        """
        document = openapi.document()
        self.assertEqual(document["openapi"], "3.1.0")
        validate(document)

    def test_everyRouteDescribed(self) -> None:
        """
        Every method of every /api route is in the document, and the document describes
        nothing that is not routed.
        """
        described = {
            (method, path)
            for path, operations in openapi.document()["paths"].items()
            for method in operations
        }
        routed = routedOperations()
        self.assertEqual(sorted(routed - described), [], "routes missing from the document")
        self.assertEqual(sorted(described - routed), [], "described but not routed")

    def test_routeListNotEmpty(self) -> None:
        """
        The route walk finds the routes (so the test above cannot pass vacuously).
        """
        routed = routedOperations()
        self.assertIn(("post", "/api/guardar_puntaje"), routed)
        self.assertIn(("post", "/api/admin/eliminar_usuario/{user_id}"), routed)
        self.assertIn(("get", "/api/salud"), routed)


class ServedTests(WebTestCase):
    def test_json(self) -> None:
        reply = self.client().get("/api/openapi.json")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json, openapi.document())

    def test_docsPage(self) -> None:
        """
        /api/docs is a page for people listing each operation, public (no session).
        """
        reply = self.client().get("/api/docs")
        self.assertEqual(reply.status, 200)
        self.assertIn("text/html", reply.header("content-type") or "")
        self.assertIn(b"POST /api/guardar_puntaje", reply.body)
        self.assertIn(b"/api/openapi.json", reply.body)
