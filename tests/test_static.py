"""
The static files: content-hashed names cached for ever, plain names cached briefly, each
precompressed (brotli, gzip) and served in the encoding the client takes; HTML never
cached.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import brotli
from twisted.trial.unittest import SynchronousTestCase

from juego.web.rendering import Renderer
from juego.web.static import (
    IMMUTABLE,
    SHORT,
    Assets,
    StaticError,
    acceptedEncodings,
    chooseEncoding,
    loadAssets,
)
from tests.test_web_pages import MEMBERS, PUBLIC
from tests.websupport import BASE, Client, Reply, WebTestCase

LINKED = re.compile(r'(?:src|href)="(/static/[^"]+)"')


class RawClient(Client):
    """
    A client that sends the headers it is given and reads the bytes as they come (treq
    asks for gzip itself, and decodes it).
    """

    def request(self, method, path, body=None, headers=None, data=None):
        from twisted.web.client import readBody
        from twisted.web.http_headers import Headers

        sent = Headers({name: [value] for name, value in (headers or {}).items()})
        agent = self.treq._agent
        response = self._settle(agent.request(method.encode(), (BASE + path).encode(), sent))
        return Reply(response.code, response.headers, self._settle(readBody(response)))


class ServedTests(WebTestCase):
    def raw(self):
        return RawClient(self, self.resource, self.pump)

    def linked(self, path: str = "/") -> list[str]:
        client, user = self.signUp()
        return LINKED.findall(client.get(path).body.decode())

    def test_pagesLinkHashedNames(self):
        """
        Every static file a page links has a content-hashed name, served with a year's
        immutable caching, the same bytes as under its plain name.
        """
        linked = self.linked("/juego")
        names = {re.sub(r"\.[0-9a-f]{12}\.", ".", url) for url in linked}
        self.assertEqual(
            names,
            {
                "/static/favicon.svg",
                "/static/app.css",
                "/static/js/common.js",
                "/static/js/juego.js",
                "/static/js/certificacion.js",
                "/static/js/tema.js",
            },
        )
        client = self.raw()
        for url in linked:
            self.assertRegex(url, r"\.[0-9a-f]{12}\.(css|js|svg)$")
            hashed = client.get(url)
            self.assertEqual(hashed.status, 200, url)
            self.assertEqual(hashed.header("cache-control"), IMMUTABLE.decode())
            self.assertEqual(hashed.header("vary"), "Accept-Encoding")
            plain = client.get(re.sub(r"\.[0-9a-f]{12}\.", ".", url))
            self.assertEqual(plain.status, 200)
            self.assertEqual(plain.header("cache-control"), SHORT.decode())
            self.assertEqual(plain.body, hashed.body)
            self.assertEqual(plain.header("content-type"), hashed.header("content-type"))

    def test_contentTypes(self):
        client = self.raw()
        for path, kind in [
            ("/static/app.css", "text/css; charset=utf-8"),
            ("/static/js/common.js", "text/javascript; charset=utf-8"),
            ("/static/favicon.svg", "image/svg+xml"),
        ]:
            self.assertEqual(client.get(path).header("content-type"), kind)

    def test_modulesImportHashedNames(self):
        """
        A module imports the others by their hashed names (a module runs once per URL:
        C{common.js} loaded by the page and imported by C{juego.js} must be one URL), and
        those names serve.
        """
        client = self.raw()
        juego = client.get(self.app.static.assets.url("js/juego.js")).body.decode()
        imports = re.findall(r"from\s*'(\./[^']+)'", juego)
        self.assertIn("./" + self.app.static.assets.url("js/common.js").rsplit("/", 1)[1], imports)
        for relative in imports:
            self.assertRegex(relative, r"^\./[a-z]+\.[0-9a-f]{12}\.js$")
            reply = client.get("/static/js/" + relative[2:])
            self.assertEqual(reply.header("cache-control"), IMMUTABLE.decode(), relative)
        # The page and the module name common.js alike.
        self.assertIn(self.app.static.assets.url("js/common.js"), self.linked("/juego"))

    def test_encodings(self):
        client = self.raw()
        url = self.app.static.assets.url("app.css")
        plain = client.get(url).body
        self.assertIn(b"--fondo", plain)
        for accept, encoding in [
            ("gzip, deflate, br", "br"),
            ("br;q=1.0, gzip;q=0.8", "br"),
            ("gzip", "gzip"),
            ("br;q=0, gzip", "gzip"),
            ("*", "br"),
            ("br;q=0, *", "gzip"),
            ("br;q=0, gzip;q=0", None),
            ("gzip;q=nonsense", None),
            ("identity", None),
            ("deflate", None),
            ("", None),
        ]:
            reply = client.get(url, headers={"Accept-Encoding": accept})
            self.assertEqual(reply.header("content-encoding"), encoding, accept)
            self.assertEqual(reply.header("vary"), "Accept-Encoding")
            decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[encoding]
            self.assertEqual(decoded(reply.body), plain, accept)
            if encoding:
                self.assertLess(len(reply.body), len(plain) / 2)

    def test_notModified(self):
        """
        Each representation has its own ETag; C{If-None-Match} with it gets a 304 with
        the caching headers and no body.
        """
        client = self.raw()
        url = self.app.static.assets.url("js/common.js")
        tags = {}
        for accept in ["br", "gzip", ""]:
            reply = client.get(url, headers={"Accept-Encoding": accept})
            tags[accept] = reply.header("etag")
            again = client.get(
                url, headers={"Accept-Encoding": accept, "If-None-Match": tags[accept]}
            )
            self.assertEqual(again.status, 304, accept)
            self.assertEqual(again.body, b"")
            self.assertEqual(again.header("etag"), tags[accept])
            self.assertEqual(again.header("cache-control"), IMMUTABLE.decode())
            self.assertEqual(again.header("vary"), "Accept-Encoding")
        self.assertEqual(len(set(tags.values())), 3, tags)
        for ifNoneMatch, status in [
            ('"otra", ' + tags["br"], 304),
            ("W/" + tags["br"], 304),
            ("*", 304),
            ('"otra"', 200),
            (tags["gzip"], 200),  # another representation's tag
        ]:
            reply = client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": ifNoneMatch})
            self.assertEqual(reply.status, status, ifNoneMatch)

    def test_headAndMethods(self):
        client = self.raw()
        url = self.app.static.assets.url("app.css")
        get = client.get(url, headers={"Accept-Encoding": "gzip"})
        head = client.request("HEAD", url, headers={"Accept-Encoding": "gzip"})
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        self.assertEqual(head.header("content-length"), str(len(get.body)))
        self.assertEqual(head.header("etag"), get.header("etag"))
        for method in ["POST", "PUT", "DELETE"]:
            reply = client.request(method, url, data=b"x")
            self.assertEqual(reply.status, 405, method)
            self.assertEqual(reply.header("allow"), "GET, HEAD")

    def test_staleOrUnknownNames(self):
        """
        A hash that is not the current one (a page from another release, mid-deploy)
        gets the current content, briefly cached; a file that does not exist is 404.
        """
        client = self.raw()
        current = client.get("/static/app.css").body
        stale = client.get("/static/app.0123456789ab.css")
        self.assertEqual((stale.status, stale.body), (200, current))
        self.assertEqual(stale.header("cache-control"), SHORT.decode())
        for path in [
            "/static/no.0123456789ab.css",
            "/static/app.0123456789ab.js",
            "/static/app.css/x",
            "/static/js",
            "/static/%ff.css",
            "/static/.app.css",
        ]:
            self.assertEqual(client.get(path).status, 404, path)

    def test_htmlNeverCached(self):
        client, user = self.signUp()
        self.makeAdmin(user["id"])
        for path in PUBLIC + MEMBERS + ["/admin", "/no-existe"]:
            reply = client.get(path)
            self.assertEqual(reply.header("cache-control"), "no-store", path)
            self.assertIn("text/html", reply.header("content-type"), path)


class AssetsTests(SynchronousTestCase):
    def test_hashFollowsContent(self):
        one = Assets({"app.css": b"body { color: red; }"})
        same = Assets({"app.css": b"body { color: red; }"})
        other = Assets({"app.css": b"body { color: blue; }"})
        self.assertRegex(one.url("app.css"), r"^/static/app\.[0-9a-f]{12}\.css$")
        self.assertEqual(one.url("app.css"), same.url("app.css"))
        self.assertNotEqual(one.url("app.css"), other.url("app.css"))

    def test_importersRenamedWithTheirImports(self):
        """
        A change in a module renames it and every module that imports it (directly or
        not), whose imports name the new file.
        """
        sources = {
            "js/common.js": b"export const a = 1;\n",
            "js/util.js": b"import { a } from './common.js';\nexport const b = a;\n",
            "js/juego.js": (
                b"import { b } from \"./util.js\";\nimport './common.js';\n"
                b"const m = import('../js/common.js');\n"
                b"export * from '/static/js/common.js';\n"
            ),
            "js/solo.js": b"export const c = 3;\n",
        }
        before = Assets(sources)
        after = Assets({**sources, "js/common.js": b"export const a = 2;\n"})
        for name in ["js/common.js", "js/util.js", "js/juego.js"]:
            self.assertNotEqual(before.url(name), after.url(name), name)
        self.assertEqual(before.url("js/solo.js"), after.url("js/solo.js"))
        common = after.url("js/common.js").rsplit("/", 1)[1]
        util = after.url("js/util.js").rsplit("/", 1)[1]
        juego = after.find(after.url("js/juego.js")[len("/static/") :])
        assert juego is not None
        text = juego[0].bodies[b""].decode()
        self.assertIn(f'from "./{util}"', text)
        self.assertIn(f"import './{common}'", text)
        self.assertIn(f"import('../js/{common}')", text)
        self.assertIn(f"export * from '/static/js/{common}'", text)

    def test_brokenImports(self):
        with self.assertRaisesRegex(StaticError, "not a static file"):
            Assets({"a.js": b"import x from './falta.js';"})
        with self.assertRaisesRegex(StaticError, "not a static file"):
            Assets({"a.js": b"import x from '/static/js/falta.js';"})
        with self.assertRaisesRegex(StaticError, "circle: a.js -> b.js -> a.js"):
            Assets({"a.js": b"import './b.js';", "b.js": b"import './a.js';"})

    def test_compressedOnlyWhenSmaller(self):
        assets = Assets({"a.css": b"a" * 2000, "b.css": b"x", "c.png": b"\x89PNG" * 500})
        bodies = {asset.name: set(asset.bodies) for asset in assets}
        self.assertEqual(bodies, {"a.css": {b"", b"br", b"gzip"}, "b.css": {b""}, "c.png": {b""}})
        self.assertEqual(next(a for a in assets if a.name == "c.png").contentType, b"image/png")

    def test_uncompressedFileServedAsItIs(self):
        assets = Assets({"b.css": b"x"})
        asset = assets.find("b.css")[0]
        self.assertEqual(chooseEncoding(asset, b"br, gzip"), b"")
        self.assertEqual(asset.etag(b""), b'"' + asset.digest.encode() + b'"')

    def test_plainURLsWithoutAssets(self):
        """
        A renderer given no static files names them by their plain URLs.
        """
        template = Renderer().environment.from_string("{{ static('js/common.js') }}")
        self.assertEqual(template.render(), "/static/js/common.js")

    def test_acceptedEncodings(self):
        self.assertEqual(
            acceptedEncodings(b"GZIP ; q=0.5, br, ;q=1, x;q=a"),
            {b"gzip": 0.5, b"br": 1.0, b"x": 0.0},
        )
        self.assertEqual(acceptedEncodings(None), {})

    def test_loadedOncePerContent(self):
        """
        The files are compressed once per process: building another application over the
        same files reuses them; a changed file is read again.
        """
        directory = Path(self.mktemp())
        (directory / "js").mkdir(parents=True)
        (directory / "app.css").write_bytes(b"body {}")
        (directory / ".oculto").write_bytes(b"secret")
        first = loadAssets(directory)
        self.assertIs(loadAssets(directory), first)
        self.assertIsNone(first.find(".oculto"))
        (directory / "app.css").write_bytes(b"body { margin: 0; }")
        os.utime(directory / "app.css", ns=(1, 1))
        second = loadAssets(directory)
        self.assertIsNot(second, first)
        self.assertNotEqual(second.url("app.css"), first.url("app.css"))
