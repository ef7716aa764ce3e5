"""
The rooms' owner in juego-dist, reached by web nodes through L{juego.race.owner.DistOwner}
over real line-protocol connections (iosim on a MemoryReactorClock, as in
L{tests.test_clients}): two web nodes' players share a room, each node hears every change
through its feed, and a restarted juego-dist is subscribed to again.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from juego.clients import MAX_BACKOFF, DistServiceClient
from juego.race.owner import DistOwner
from juego.race.service import DistRaces
from tests.test_clients import ENDPOINT, SECRET, World


class DistOwnerTests(SynchronousTestCase):
    def setUp(self):
        self.world = World(self, serverSecret=SECRET)
        self.races = DistRaces(self.world.reactor)
        self.world.factory.handlers.update(self.races.handlers())
        self.nodes = []
        for _ in range(2):
            client = DistServiceClient(self.world.reactor, ENDPOINT, secret=SECRET)
            owner = DistOwner(client)
            heard, fed = [], []
            owner.listen(heard.append)
            owner.onFeed = lambda fed=fed: fed.append(1)
            client.start()
            owner.start()
            self.nodes.append((client, owner, heard, fed))
        self.world.complete()

    def call(self, node, action, **fields):
        d = self.nodes[node][1].call(action, **fields)
        self.world.flush()
        return self.successResultOf(d)

    def test_twoNodesShareARoom(self):
        first = self.call(0, "race_quick", user_id=1, nombre="ana", idioma="es")
        second = self.call(1, "race_quick", user_id=2, nombre="bea", idioma="es")
        self.assertEqual(first["sala"]["codigo"], second["sala"]["codigo"])
        codigo = first["sala"]["codigo"]
        for _, _, heard, fed in self.nodes:
            self.assertEqual(fed, [1])
            self.assertEqual(heard[-1]["estado"], "cuenta")
        self.world.advance(5)
        self.assertEqual(self.nodes[1][2][-1]["estado"], "carrera")
        self.call(0, "race_progress", sala=codigo, user_id=1, progreso=42.0)
        racers = {r["id"]: r for r in self.nodes[1][2][-1]["corredores"]}
        self.assertEqual(racers[1]["progreso"], 42.0)
        refused = self.call(1, "race_join", sala="nada", user_id=2, nombre="bea")
        self.assertEqual((refused["success"], refused["code"]), (False, "sala_no_encontrada"))
        # Another node's event that is not a room's: ignored.
        self.nodes[0][1]._event({"event": "notification"})

    def test_feedBackAfterARestart(self):
        self.world.down()
        self.world.advance(MAX_BACKOFF)
        self.world.complete()
        self.world.up()
        self.world.advance(MAX_BACKOFF)
        self.world.complete()
        for _, _, _, fed in self.nodes:
            self.assertEqual(fed, [1, 1])
        self.assertEqual(len(self.races.subscribers), 2)
        for client, owner, _, _ in self.nodes:
            owner.stop()
            client.stop()
        self.world.flush()
        self.assertEqual(len(self.races.subscribers), 0)
