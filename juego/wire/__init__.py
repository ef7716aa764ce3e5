"""
The line protocol shared by juego-tcp and juego-dist: framing, parsing, dispatch, error
codes, ordering and service authentication (server side in L{protocol}, client side in
L{client}).
"""

from juego.wire.errors import WireError, errorReply
from juego.wire.protocol import LineProtocol, WireFactory, encodeLine
from juego.wire.request import Request

__all__ = ["LineProtocol", "Request", "WireError", "WireFactory", "encodeLine", "errorReply"]
