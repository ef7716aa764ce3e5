"""
Live races: rooms (L{juego.race.rooms}) owned by juego-dist (L{juego.race.service}),
reached by the web nodes through an owner (L{juego.race.owner}).
"""
