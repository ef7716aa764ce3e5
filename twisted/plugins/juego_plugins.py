from twisted.application.service import ServiceMaker

juegoTCP = ServiceMaker(
    "juego-tcp", "juego.tap.tcp", "juego score service (port 6000)", "juego-tcp"
)
juegoDist = ServiceMaker(
    "juego-dist",
    "juego.tap.dist",
    "juego stats and notifications service (port 7000)",
    "juego-dist",
)
juegoWeb = ServiceMaker(
    "juego-web", "juego.tap.web", "juego web site and API (port 5000)", "juego-web"
)
juego = ServiceMaker("juego", "juego.tap.all", "all three juego services in one reactor", "juego")
