"""
The static files (C{/static/}), read from the package's own directory (found with
importlib.resources, never relative to the working directory) once, at startup, and
served from memory.

Each file has two names:

  - its content-hashed name, C{app.<hash>.css}, which the pages use (the templates'
    C{static()} helper): the content under it never changes, so browsers keep it a year
    without asking again (C{Cache-Control: immutable});
  - its plain name, C{app.css}, for anything that remembers it (a bookmark, a script):
    same content, cached briefly.

A name with a hash that is not the current one (a page from a node running an older or
newer release, during a deploy) gets the current content, cached briefly too.

Text files are compressed at load time, with gzip and brotli, and served in the best
encoding the client's C{Accept-Encoding} takes (C{Vary: Accept-Encoding}). Each
representation has its own ETag, and C{If-None-Match} gets a 304.

The scripts are ES modules that import each other by relative path (C{./common.js}). A
module runs once per URL, so a page that loads C{common.<hash>.js} must not also import
C{common.js}: the imports are rewritten to the hashed names (and a module's hash covers
its imports' hashes, so a change in C{common.js} renames every module that imports it).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path, PurePosixPath
from typing import Any

import attrs
import brotli
from twisted.web.iweb import IRequest
from twisted.web.resource import NoResource, Resource

#: A year: the longest lifetime caches honour.
IMMUTABLE = b"public, max-age=31536000, immutable"
#: For the plain names (and a hash that is not the current one): five minutes.
SHORT = b"public, max-age=300"
#: The hash in a file name: this many hex digits of its content's SHA-256.
HASH_LENGTH = 12

CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
#: What is worth compressing (images such as PNG already are).
COMPRESSIBLE = {".css", ".js", ".svg", ".json", ".txt", ".html", ".webmanifest", ".ico"}

#: A module's static imports and dynamic C{import()}s of a relative path or of an
#: absolute one below C{/static/}.
_IMPORT = re.compile(
    r"""(?P<head>\bfrom\s*|\bimport\s*\(?\s*)(?P<quote>['"])"""
    r"""(?P<path>(?:\.\.?/|/static/)[^'"\s]+)(?P=quote)"""
)
#: A hashed name: C{stem.<hash>.ext}.
_HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[^./]+)$")


class StaticError(Exception):
    """
    The static files cannot be served as they are (an import of a missing module, or
    modules that import each other in a circle); raised at startup.
    """


@attrs.frozen
class Asset:
    """
    One static file, ready to serve: its bytes in each encoding worth having.
    """

    name: str
    hashedName: str
    contentType: bytes
    #: Content-Encoding (C{b""}: none) -> body.
    bodies: dict[bytes, bytes]
    digest: str

    def etag(self, encoding: bytes) -> bytes:
        suffix = b"-" + encoding if encoding else b""
        return b'"' + self.digest.encode("ascii") + suffix + b'"'


def hashedName(name: str, digest: str) -> str:
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}.{digest[:HASH_LENGTH]}{path.suffix}"))


def compressed(data: bytes, suffix: str) -> dict[bytes, bytes]:
    """
    C{data} in every encoding worth sending: brotli and gzip when they make it smaller.
    """
    bodies = {b"": data}
    if suffix in COMPRESSIBLE:
        for encoding, squeeze in (
            (b"br", lambda d: brotli.compress(d, quality=11)),
            (b"gzip", lambda d: gzip.compress(d, compresslevel=9, mtime=0)),
        ):
            smaller = squeeze(data)
            if len(smaller) < len(data):
                bodies[encoding] = smaller
    return bodies


class Assets:
    """
    Every file under a directory, by plain and hashed name.
    """

    def __init__(self, sources: dict[str, bytes]) -> None:
        self._sources = sources
        self._byName: dict[str, Asset] = {}
        self._loading: list[str] = []
        for name in sorted(sources):
            self._load(name)
        self._byHashed = {asset.hashedName: asset for asset in self._byName.values()}

    @classmethod
    def fromDirectory(cls, directory: Path) -> Assets:
        return cls(
            {
                path.relative_to(directory).as_posix(): path.read_bytes()
                for path in sorted(directory.rglob("*"))
                if path.is_file() and not path.name.startswith(".")
            }
        )

    def _load(self, name: str) -> Asset:
        if name in self._byName:
            return self._byName[name]
        if name in self._loading:
            circle = " -> ".join([*self._loading[self._loading.index(name) :], name])
            raise StaticError(f"static modules import each other in a circle: {circle}")
        self._loading.append(name)
        data = self._sources[name]
        suffix = PurePosixPath(name).suffix
        if suffix == ".js":
            data = self._rewriteImports(name, data)
        self._loading.pop()
        digest = hashlib.sha256(data).hexdigest()
        contentType = CONTENT_TYPES.get(suffix) or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        asset = Asset(
            name=name,
            hashedName=hashedName(name, digest),
            contentType=contentType.encode("ascii"),
            bodies=compressed(data, suffix),
            digest=digest[: HASH_LENGTH * 2],
        )
        self._byName[name] = asset
        return asset

    def _rewriteImports(self, name: str, data: bytes) -> bytes:
        here = PurePosixPath(name).parent

        def replace(match: re.Match[str]) -> str:
            relative = match["path"]
            absolute = relative.startswith("/")
            target = _normalise(
                PurePosixPath(relative[len("/static/") :]) if absolute else here / relative
            )
            if target not in self._sources:
                raise StaticError(f"{name} imports {relative}, which is not a static file")
            imported = self._load(target)
            if absolute:
                return (
                    f"{match['head']}{match['quote']}/static/{imported.hashedName}{match['quote']}"
                )
            newName = PurePosixPath(imported.hashedName).name
            rewritten = str(PurePosixPath(relative).with_name(newName))
            if not rewritten.startswith("."):
                rewritten = "./" + rewritten
            return f"{match['head']}{match['quote']}{rewritten}{match['quote']}"

        return _IMPORT.sub(replace, data.decode("utf-8")).encode("utf-8")

    def url(self, name: str) -> str:
        """
        The URL the pages use for the static file C{name} (C{"js/common.js"}): its
        hashed name. An unknown name is a template's mistake: L{KeyError}.
        """
        return "/static/" + self._byName[name].hashedName

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._byName.values())

    def find(self, name: str) -> tuple[Asset, bool] | None:
        """
        The file served at C{/static/<name>}, and whether that name is its current
        hashed one (cacheable for ever); C{None}: no such file.
        """
        asset = self._byHashed.get(name)
        if asset is not None:
            return asset, True
        asset = self._byName.get(name)
        if asset is not None:
            return asset, False
        match = _HASHED.match(name)
        if match is not None:
            asset = self._byName.get(match["stem"] + match["ext"])
            if asset is not None:
                return asset, False
        return None


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def acceptedEncodings(header: bytes | None) -> dict[bytes, float]:
    """
    The content codings of an C{Accept-Encoding} header, with their weights (C{*} kept
    as it is).
    """
    accepted: dict[bytes, float] = {}
    for item in (header or b"").split(b","):
        coding, _, params = item.strip().partition(b";")
        coding = coding.strip().lower()
        if not coding:
            continue
        weight = 1.0
        for param in params.split(b";"):
            key, _, value = param.strip().partition(b"=")
            if key.strip().lower() == b"q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        accepted[coding] = weight
    return accepted


def chooseEncoding(asset: Asset, header: bytes | None) -> bytes:
    """
    The best encoding of C{asset} that the client takes: brotli, then gzip, else none.
    """
    accepted = acceptedEncodings(header)
    for encoding in (b"br", b"gzip"):
        if encoding not in asset.bodies:
            continue
        weight = accepted.get(encoding, accepted.get(b"*", 0.0))
        if weight > 0:
            return encoding
    return b""


def _matches(ifNoneMatch: bytes, etag: bytes) -> bool:
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    for candidate in ifNoneMatch.split(b","):
        candidate = candidate.strip()
        if candidate == b"*" or candidate.removeprefix(b"W/") == etag:
            return True
    return False


class StaticFiles(Resource):
    """
    C{/static/}: the files of L{Assets}, from memory. No listings, nothing but GET and
    HEAD.
    """

    isLeaf = True

    def __init__(self, assets: Assets) -> None:
        super().__init__()
        self.assets = assets

    def render(self, request: IRequest) -> Any:
        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.setHeader(b"Allow", b"GET, HEAD")
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return "Método no permitido.".encode()
        # Non-UTF-8 paths are refused before routing (L{juego.web.paths}).
        name = "/".join(part.decode("utf-8", "replace") for part in request.postpath)
        found = self.assets.find(name) if name else None
        if found is None:
            return NoResource("No existe ese archivo.").render(request)
        asset, immutable = found
        encoding = chooseEncoding(asset, request.getHeader(b"Accept-Encoding"))
        etag = asset.etag(encoding)
        request.setHeader(b"Content-Type", asset.contentType)
        request.setHeader(b"Cache-Control", IMMUTABLE if immutable else SHORT)
        request.setHeader(b"Vary", b"Accept-Encoding")
        request.setHeader(b"ETag", etag)
        if encoding:
            request.setHeader(b"Content-Encoding", encoding)
        ifNoneMatch = request.getHeader(b"If-None-Match")
        if ifNoneMatch is not None and _matches(ifNoneMatch, etag):
            request.setResponseCode(304)
            return b""
        body = asset.bodies[encoding]
        request.setHeader(b"Content-Length", str(len(body)).encode("ascii"))
        return b"" if request.method == b"HEAD" else body


def staticDirectory(stack: ExitStack) -> Path:
    """
    The package's static directory as a real path (extracted for as long as C{stack}
    lives, should the package be zipped).
    """
    return Path(stack.enter_context(as_file(files("juego.web") / "static")))


_loaded: dict[tuple[Path, tuple[tuple[str, int, int], ...]], Assets] = {}


def loadAssets(directory: Path) -> Assets:
    """
    The files under C{directory}, compressed once per process (and again only if a file
    changes: tests build many applications over the same files).
    """
    key = (
        directory,
        tuple(
            (str(path), stat.st_mtime_ns, stat.st_size)
            for path in sorted(directory.rglob("*"))
            if path.is_file() and (stat := path.stat())
        ),
    )
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = Assets.fromDirectory(directory)
    return _loaded[key]
