"""
Console scripts: C{juego-web}, C{juego-tcp}, C{juego-dist} and C{juego} run the twistd
plugin of the same name in the foreground, with no pid file, so that a service manager
(systemd) or an operator runs any number of them from one folder.

C{juego-web ARGS} is C{twistd --nodaemon --pidfile= juego-web ARGS}. twistd's own options
(C{--logfile}, C{--logger}, C{--pidfile}, ...) go before a C{--}::

    juego-web --logfile /var/log/juego/web.log -- --listen tcp:5000:interface=127.0.0.1
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: What twistd gets before our own and the caller's twistd options.
DEFAULTS = ("--nodaemon", "--pidfile=")


def twistdArguments(plugin: str, argv: Sequence[str]) -> list[str]:
    """
    twistd's command line (without the program name) for C{plugin} given our C{argv}.
    """
    argv = list(argv)
    if "--" in argv:
        split = argv.index("--")
        twistdOptions, pluginOptions = argv[:split], argv[split + 1 :]
    else:
        twistdOptions, pluginOptions = [], argv
    return [*DEFAULTS, *twistdOptions, plugin, *pluginOptions]


def runPlugin(plugin: str, argv: Sequence[str] | None = None) -> None:
    from twisted.scripts.twistd import run

    arguments = sys.argv[1:] if argv is None else argv
    sys.argv = [plugin, *twistdArguments(plugin, arguments)]
    run()


def web() -> None:
    runPlugin("juego-web")


def tcp() -> None:
    runPlugin("juego-tcp")


def dist() -> None:
    runPlugin("juego-dist")


def juego() -> None:
    runPlugin("juego")
