"""
juego-web's Site: JSON in, so POST bodies are never parsed as HTML forms.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import server
from twisted.web.resource import Resource

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
