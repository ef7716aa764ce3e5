"""
The replay's logic (C{juego/web/static/js/repeticion-linea.js}: the timeline of a game and
the player that walks it) run in Chromium on its own, without the server: the module is
served from the checkout to a blank page, and a fake clock drives the player, so nothing
waits for real time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, requireBrowser

MODULE = Path(__file__).parent.parent / "juego" / "web" / "static" / "js" / "repeticion-linea.js"
ORIGIN = "http://linea.test"

#: A fake clock (run in the page before a harness): timers fire as it is moved on.
CLOCK = """
  const reloj = {
    t: 0,
    tareas: [],
    ahora() { return this.t; },
    programar(fn, ms) { const id = Symbol(); this.tareas.push({ id, en: this.t + ms, fn }); return id; },
    cancelar(id) { this.tareas = this.tareas.filter((x) => x.id !== id); },
    avanzar(ms) {
      const hasta = this.t + ms;
      for (;;) {
        this.tareas.sort((a, b) => a.en - b.en);
        const tarea = this.tareas[0];
        if (!tarea || tarea.en > hasta) break;
        this.tareas.shift();
        this.t = tarea.en;
        tarea.fn();
      }
      this.t = hasta;
    },
  };
"""

#: The module, the clock, and a player over one track that records what it paints.
HARNESS = (
    """async ({ eventos }) => {
  const m = await import('/repeticion-linea.js');
"""
    + CLOCK
    + """
  const pintados = [];
  const pasos = m.lineaDeTiempo(eventos);
  const r = new m.Reproductor(
    [{ pasos, pintar: (paso) => pintados.push(paso && [reloj.t, paso.tipo, paso.indice, paso.escrito]) }],
    reloj,
  );
  const vistazo = (nombre) => ({ nombre, estado: r.estado, posicion: r.posicion(), ultimo: pintados[pintados.length - 1] });
  const vistazos = [vistazo('inicio')];
  r.cambiarVelocidad(2);
  r.reproducir();
  reloj.avanzar(200);            // 400 ms of the game
  vistazos.push(vistazo('a 2x'));
  r.pausar();
  reloj.avanzar(5000);           // paused: nothing moves
  vistazos.push(vistazo('pausada'));
  r.cambiarVelocidad(0.5);
  r.reproducir();
  reloj.avanzar(100);            // 50 ms of the game
  vistazos.push(vistazo('a 0.5x'));
  r.buscar(1000);
  vistazos.push(vistazo('buscada'));
  r.cambiarVelocidad(4);
  reloj.avanzar(100000);
  vistazos.push(vistazo('fin'));
  r.reproducir();                // again, from the start
  vistazos.push(vistazo('otra vez'));
  return {
    pasos: pasos.map((p) => [p.ms, p.tipo, p.indice, p.escrito, p.pulsaciones, p.total, p.aciertos, p.fallos]),
    escritos: [1, 2, 3, 4, 5, 6].map((k) => m.escritoTras('casa', true, k, 6)),
    fallada: [1, 2, 3, 4, 5].map((k) => m.escritoTras('ñandú', false, k, 5)),
    hasta: [-1, 0, 299, 300, 301, 5000].map((ms) => m.pasoHasta(pasos, ms)),
    duracion: r.duracion,
    velocidades: m.VELOCIDADES,
    vistazos,
  };
}"""
)

EVENTOS = [
    {
        "palabra": "casa",
        "ok": True,
        "errores": 0,
        "t": 900,
        "d": 900,
        "teclas": [300, 450, 600, 800],
    },
    {"palabra": "ñandú", "ok": False, "errores": 1, "t": 4000, "d": 3100, "teclas": [400, 400]},
]


#: Two tracks on one player (a race's racers): each painted at its own times, the whole
#: replay as long as the longest.
SIDE_BY_SIDE = (
    """async ({ a, b }) => {
  const m = await import('/repeticion-linea.js');
"""
    + CLOCK
    + """
  const pintados = { a: [], b: [] };
  const pista = (nombre, eventos) => ({
    pasos: m.lineaDeTiempo(eventos),
    pintar: (paso) => pintados[nombre].push(paso && [reloj.t, paso.tipo, paso.indice]),
  });
  const r = new m.Reproductor([pista('a', a), pista('b', b)], reloj);
  r.reproducir();
  reloj.avanzar(100000);
  return { pintados, duracion: r.duracion, estado: r.estado };
}"""
)


class TimelineTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()

    def evaluate(self, script: str, argument: Any) -> dict[str, Any]:
        from playwright.sync_api import Route, sync_playwright

        def serve(route: Route) -> None:
            if route.request.url.endswith("/repeticion-linea.js"):
                route.fulfill(
                    body=MODULE.read_text(encoding="utf-8"), content_type="text/javascript"
                )
            else:
                route.fulfill(body="<!doctype html><title>linea</title>", content_type="text/html")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.route(f"{ORIGIN}/**", serve)
                page.goto(f"{ORIGIN}/")
                result: dict[str, Any] = page.evaluate(script, argument)
                return result
            finally:
                browser.close()

    def test_timelineAndPlayer(self) -> None:
        r = self.evaluate(HARNESS, {"eventos": EVENTOS})
        # Every word shown when the previous ended, every keystroke at its time since
        # the word was shown, every word's end: [ms, tipo, indice, escrito, pulsaciones,
        # total, aciertos, fallos].
        self.assertEqual(
            r["pasos"],
            [
                [0, "palabra", 0, "", 0, 0, 0, 0],
                [300, "tecla", 0, "c", 1, 1, 0, 0],
                [450, "tecla", 0, "ca", 2, 2, 0, 0],
                [600, "tecla", 0, "cas", 3, 3, 0, 0],
                [800, "tecla", 0, "casa", 4, 4, 0, 0],
                [900, "fin", 0, "casa", 4, 4, 1, 0],
                [900, "palabra", 1, "", 0, 4, 1, 0],
                [1300, "tecla", 1, "ñ", 1, 5, 1, 0],
                [1300, "tecla", 1, "ña", 2, 6, 1, 0],
                [4000, "fin", 1, "ña", 2, 6, 1, 1],
            ],
        )
        # A typed word grows in proportion to its keystrokes (slips included) and is
        # whole at the last; a missed one never completes. Letters are code points.
        self.assertEqual(r["escritos"], ["c", "ca", "ca", "cas", "casa", "casa"])
        self.assertEqual(r["fallada"], ["ñ", "ña", "ñan", "ñand", "ñand"])
        self.assertEqual(r["hasta"], [-1, 0, 0, 1, 1, 9])
        self.assertEqual(r["duracion"], 4000)
        self.assertEqual(r["velocidades"], [0.5, 1, 2, 4])

        shots = {shot["nombre"]: shot for shot in r["vistazos"]}
        self.assertEqual(shots["inicio"]["estado"], "lista")
        self.assertEqual(shots["inicio"]["ultimo"], [0, "palabra", 0, ""])
        # 200 ms at 2x: 400 ms of the game, the first keystroke (300) painted at 150.
        self.assertEqual(shots["a 2x"]["posicion"], 400)
        self.assertEqual(shots["a 2x"]["ultimo"], [150, "tecla", 0, "c"])
        # Paused: the position and the screen hold.
        self.assertEqual(shots["pausada"]["estado"], "pausada")
        self.assertEqual(shots["pausada"]["posicion"], 400)
        self.assertEqual(shots["pausada"]["ultimo"], [150, "tecla", 0, "c"])
        # On at 0.5x from there: 100 ms are 50 ms of the game (450: the second key).
        self.assertEqual(shots["a 0.5x"]["posicion"], 450)
        self.assertEqual(shots["a 0.5x"]["ultimo"][1:], ["tecla", 0, "ca"])
        self.assertEqual(shots["a 0.5x"]["ultimo"][0], 5200 + 100)
        # A seek paints the state at that time and plays on.
        self.assertEqual(shots["buscada"]["posicion"], 1000)
        self.assertEqual(shots["buscada"]["ultimo"][1:], ["palabra", 1, ""])
        self.assertEqual(shots["buscada"]["estado"], "reproduciendo")
        self.assertEqual(shots["fin"]["estado"], "terminada")
        self.assertEqual(shots["fin"]["posicion"], 4000)
        self.assertEqual(shots["fin"]["ultimo"][1:], ["fin", 1, "ña"])
        # At 4x from 1000 ms: the last word ends (4000) 750 ms after the seek.
        self.assertEqual(shots["fin"]["ultimo"][0], 5300 + 750)
        self.assertEqual(shots["otra vez"]["estado"], "reproduciendo")
        self.assertEqual(shots["otra vez"]["posicion"], 0)
        self.assertEqual(shots["otra vez"]["ultimo"][1:], ["palabra", 0, ""])

    def test_sideBySide(self) -> None:
        other = [{"palabra": "sol", "ok": True, "errores": 0, "t": 700, "d": 700, "teclas": [500]}]
        r = self.evaluate(SIDE_BY_SIDE, {"a": EVENTOS, "b": other})
        self.assertEqual((r["duracion"], r["estado"]), (4000, "terminada"))
        # Painted at load (time 0), at the start, then at each change of its own.
        self.assertEqual(
            r["pintados"]["b"],
            [[0, "palabra", 0], [0, "palabra", 0], [500, "tecla", 0], [700, "fin", 0]],
        )
        self.assertEqual(
            [shot[0] for shot in r["pintados"]["a"]], [0, 0, 300, 450, 600, 800, 900, 1300, 4000]
        )
