"""
The static files (C{/static/}), served from the package's own directory (found with
importlib.resources, never relative to the working directory), without listings.
"""

from __future__ import annotations

from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from twisted.web.iweb import IRequest
from twisted.web.resource import NoResource
from twisted.web.static import File


class StaticFiles(File):
    def directoryListing(self) -> Any:
        return NoResource("No existe ese archivo.")

    def getChild(self, path: bytes, request: IRequest) -> Any:
        # A NUL (C{%00}) cannot be in a file name: os.stat raises ValueError on it, which
        # would be a 500. No such file, then; the same for anything else stat rejects.
        if b"\0" in path:
            return NoResource("No existe ese archivo.")
        try:
            return super().getChild(path, request)
        except ValueError:
            return NoResource("No existe ese archivo.")

    def render_GET(self, request: IRequest) -> Any:
        request.setHeader(b"Cache-Control", b"no-cache")
        return super().render_GET(request)


def staticDirectory(stack: ExitStack) -> Path:
    """
    The package's static directory as a real path (extracted for as long as C{stack}
    lives, should the package be zipped).
    """
    return Path(stack.enter_context(as_file(files("juego.web") / "static")))


def staticResource(directory: Path) -> StaticFiles:
    return StaticFiles(str(directory))
