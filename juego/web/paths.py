"""
Paths no route can name: a NUL or bytes that are not UTF-8 once percent-decoded
(C{/static/%00}, C{/%ff}). They are 404 before routing: Klein would answer a non-UTF-8
path with a 400 and an error in the log, and the file system would raise on a NUL.
"""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from juego.web.errors import NotFoundError, errorReply


def nameablePath(segments: list[bytes]) -> bool:
    """
    Whether every (percent-decoded) path segment is UTF-8 without NUL.
    """
    for segment in segments:
        if b"\0" in segment:
            return False
        try:
            segment.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


class PathCheck(Resource):
    """
    Wraps the site's router (a leaf): 404 C{no_encontrado} for a path no route can name.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource) -> None:
        super().__init__()
        self._wrapped = wrapped

    def render(self, request: IRequest) -> Any:
        # At the root, the site has split and percent-decoded the whole path here.
        if not nameablePath(request.postpath or []):
            return errorReply(request, NotFoundError())
        return self._wrapped.render(request)
