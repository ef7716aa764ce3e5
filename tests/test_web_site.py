"""
juego-web's Site: JSON in, so POST bodies are never parsed as HTML forms; API requests
routed once (L{juego.web.app.APIShortcut}).
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import server
from twisted.web.resource import Resource
from twisted.web.test.requesthelper import DummyRequest

from juego.web.app import APIShortcut, Application
from juego.web.tracing import Site


class Recorder(Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.args = None

    def render_POST(self, request):
        self.args = dict(request.args)
        return b"ok"


def post(site, body: bytes) -> None:
    channel = site.buildProtocol(None)
    channel.makeConnection(StringTransport())
    channel.dataReceived(
        b"POST /x HTTP/1.1\r\nHost: juego\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )


class FormParsingTests(SynchronousTestCase):
    def test_formBodyNotParsed(self):
        recorder = Recorder()
        post(Site(recorder, reactor=Clock()), b"a=1&b=2")
        self.assertEqual(recorder.args, {})

    def test_plainSiteWouldParse(self):
        """
        The control: Twisted's own Site does parse it (so the test above can fail).
        """
        recorder = Recorder()
        post(server.Site(recorder, reactor=Clock()), b"a=1&b=2")
        self.assertEqual(recorder.args, {b"a": [b"1"], b"b": [b"2"]})


class Named(Resource):
    """
    Answers with its name, and records the paths it was given.
    """

    isLeaf = True

    def __init__(self, name: bytes) -> None:
        super().__init__()
        self.name = name
        self.seen: list[tuple[list[bytes], list[bytes]]] = []

    def render(self, request):
        self.seen.append((list(request.prepath), list(request.postpath)))
        return self.name


class APIShortcutTests(SynchronousTestCase):
    """
    L{APIShortcut}: the API's requests go straight to its router, as the application's
    C{/api/} branch would hand them, and everything else through the application.
    """

    def answer(self, path: bytes, method: bytes = b"GET", headers=None) -> tuple[bytes, Named]:
        app, api = Named(b"app"), Named(b"api")
        shortcut = APIShortcut(app, api, frozenset({b"salud"}))
        request = DummyRequest(path.split(b"/")[1:])
        request.method = method
        for name, value in (headers or {}).items():
            request.requestHeaders.setRawHeaders(name, [value])
        body = shortcut.render(request)
        return body, api if body == b"api" else app

    def test_apiStraightToItsRouter(self):
        body, api = self.answer(b"/api/stats/global")
        self.assertEqual((body, api.seen), (b"api", [([b"api"], [b"stats", b"global"])]))
        headers = {b"content-type": b"application/json"}
        self.assertEqual(self.answer(b"/api/guardar_puntaje", b"POST", headers)[0], b"api")

    def test_restThroughTheApplication(self):
        for path in (b"/api/salud", b"/api/", b"/api", b"/juego", b"/", b"/static/x.js"):
            body, app = self.answer(path)
            self.assertEqual(body, b"app", path)
            self.assertEqual(app.seen, [([], path.split(b"/")[1:])], path)

    def test_refusalsThroughTheApplication(self):
        """
        A state change the check refuses is answered by the application's branch, which
        refuses it as before.
        """
        for headers in (
            {b"content-type": b"text/plain"},
            {b"content-type": b"application/json", b"origin": b"https://evil.example"},
        ):
            self.assertEqual(self.answer(b"/api/logout", b"POST", headers)[0], b"app")

    def test_ownRoutes(self):
        """
        The application's own routes below C{/api/} are found from its router.
        """
        self.assertEqual(
            Application.apiRoutes(attrsFree()),
            frozenset({b"salud", b"openapi.json", b"docs", b"carrera", b"carreras"}),
        )


def attrsFree():
    """
    Enough of an L{Application} for L{Application.apiRoutes}: its class router.
    """

    class Bare:
        router = Application.router

    return Bare()
