"""
juego-web: the Klein application (pages, JSON API, static game), its accounts and
sessions, and the outbox that hands verified scores to juego-tcp.

L{juego.web.app.Application} is the entry point; L{juego.tap.web} runs it.
"""
