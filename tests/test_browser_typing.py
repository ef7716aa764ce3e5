"""
The game as a typist sees it, in Debian's Chromium through Playwright (as
L{tests.test_browser}): each letter marked right or wrong as it is typed, a caret, live
speed and accuracy, Tab that never leaves the input mid-game, every wrong key counted,
and a result with the per-word chart, one way to play again (Enter) and a share link.

Set C{JUEGO_SCREENSHOTS} to a folder to keep the screenshots each test takes (desktop
1280x800 and phone 390x844) for a person to look at.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.processes import CHECKOUT
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, System, requireBrowser

PASSWORD = "contraseña-de-prueba"
ADMIN_PASSWORD = "caballo-grapa-bateria-9"
#: A key that is in no word of either list.
WRONG = "9"
WRONG_KEYS = 10
DESKTOP: Any = {"width": 1280, "height": 800}
PHONE: Any = {"width": 390, "height": 844}


class BrowserCase(SynchronousTestCase):
    """
    The system in a subprocess and a browser page on it, with helpers to type as a
    person types.
    """

    def setUp(self) -> None:
        requireBrowser()
        self.system = System(self)
        self.system.waitUntilUp()
        self.rng = random.Random(12)
        shots = os.environ.get("JUEGO_SCREENSHOTS")
        self.shots = Path(shots) if shots else Path(self.mktemp())
        self.shots.mkdir(parents=True, exist_ok=True)

    def runInBrowser(self, viewport: Any, test: Any) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=20_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = browser.new_context(
                    base_url=self.system.base,
                    viewport=viewport,
                    permissions=["clipboard-read", "clipboard-write"],
                )
                page = context.new_page()
                page.set_default_timeout(20_000)
                problems: list[str] = []
                page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
                pushed: list[str] = []

                def onSocket(socket: Any) -> None:
                    if socket.url.endswith("/api/notificaciones/ws"):
                        socket.on("framereceived", lambda payload: pushed.append(str(payload)))

                page.on("websocket", onSocket)
                fetched: list[str] = []
                page.on(
                    "request",
                    lambda request: (
                        fetched.append(request.url)
                        if request.url.endswith("/api/notificaciones")
                        else None
                    ),
                )
                self.pushed = pushed
                self.fetched = fetched
                try:
                    test(page)
                except Exception as e:
                    raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e
                self.assertEqual(problems, [])
            finally:
                browser.close()

    def signUp(self, page: Any, email: str) -> None:
        page.goto("/registro")
        page.fill("#nombre", "Tecla <b>")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/juego")

    def typeLikeAPerson(self, page: Any, text: str) -> None:
        for letter in text:
            page.keyboard.type(letter)
            page.wait_for_timeout(self.rng.lognormvariate(5.0, 0.45))  # pacing, not waiting

    def typeWord(self, page: Any) -> str:
        from playwright.sync_api import expect

        word = page.locator("#palabra-actual")
        shown = word.text_content()
        self.typeLikeAPerson(page, shown)
        expect(word).not_to_have_text(shown)
        return shown

    def marks(self, page: Any) -> list[str]:
        return [
            span.get_attribute("class")
            for span in page.locator("#palabra-actual .letra").element_handles()
        ]

    def shoot(self, page: Any, name: str, full: bool = True) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=full)


#: Run in the page: juego.js's own functions on chosen inputs.
CASES = """async () => {
  const m = await import('/static/js/juego.js');
  const estado = (texto, palabra) => {
    const letras = [...texto.normalize('NFC')];
    return { letras, marcas: m.marcasDe(letras, [...palabra]) };
  };
  return {
    pendiente: m.marcasDe([...'cafe'], [...'café']),
    acento: m.marcasDe([...'cafe\u0301'.normalize('NFC')], [...'café']),
    pendienteMal: m.erroresNuevos(estado('cafe', 'café'), estado('cafex', 'café')),
    sigueMal: m.erroresNuevos(estado('a9', 'ala'), estado('a99', 'ala')),
    borrar: m.erroresNuevos(estado('a99', 'ala'), estado('a9', 'ala')),
    otraVez: m.erroresNuevos(estado('a', 'ala'), estado('a9', 'ala')),
    pegado: m.erroresNuevos(estado('', 'ala'), estado('9999999999', 'ala')),
    ppm: m.ppmDe(25, 5000),
    precision: m.precisionDe(8, 2),
  };
}"""


class TypingTests(BrowserCase):
    def test_typingAndResultDesktop(self) -> None:
        self.runInBrowser(DESKTOP, lambda page: self.play(page, "escritorio"))

    def test_typingAndResultPhone(self) -> None:
        self.runInBrowser(PHONE, lambda page: self.play(page, "movil"))

    def test_wrongKeysCountedOneByOne(self) -> None:
        """
        The rules juego.js marks letters and counts wrong keys by, run in the browser on
        cases a random word list may not bring: a letter waiting for its accent is not
        wrong yet; a wrong letter counts once however long it stays; deleting never
        counts; typing it again after deleting counts again.
        """

        def check(page: Any) -> None:
            page.goto("/juego")
            cases = page.evaluate(CASES)
            self.assertEqual(
                cases,
                {
                    "pendiente": ["bien", "bien", "bien", "pendiente"],
                    "acento": ["bien", "bien", "bien", "bien"],
                    "pendienteMal": 2,
                    "sigueMal": 1,
                    "borrar": 0,
                    "otraVez": 1,
                    "pegado": 10,
                    "ppm": 60,
                    "precision": 0.8,
                },
            )

        self.runInBrowser(DESKTOP, check)

    def play(self, page: Any, name: str) -> None:
        from playwright.sync_api import expect

        self.signUp(page, f"{name}@example.com")
        # One fetch of the notification list per page (on /notificaciones the badge and
        # the list share it).
        for path in ["/notificaciones", "/juego"]:
            page.wait_for_load_state("networkidle")
            self.fetched.clear()
            page.goto(path)
            page.wait_for_load_state("networkidle")
            self.assertEqual(len(self.fetched), 1, (path, self.fetched))

        word = page.locator("#palabra-actual")
        entrada = page.locator("#entrada")
        page.click("#comenzar")
        expect(word).to_have_text(re.compile(r"\S"))
        expect(entrada).to_be_focused()
        shown = word.text_content()
        letters = list(shown)

        # The first letter right: marked right, the rest not typed yet, the caret after it.
        page.keyboard.type(letters[0])
        expect(page.locator("#palabra-actual .letra").first).to_have_class("letra bien")
        self.assertEqual(self.marks(page), ["letra bien"] + ["letra falta"] * (len(letters) - 1))
        self.assertEqual(page.locator("#palabra-actual .cursor").count(), 1)
        self.assertEqual(word.text_content(), shown)  # the word's text is still the word

        # Tab mid-game: the focus and the letter stay.
        page.keyboard.press("Tab")
        expect(entrada).to_be_focused()
        self.assertEqual(entrada.input_value(), letters[0])
        self.assertEqual(self.marks(page)[0], "letra bien")

        # Ten wrong keys: each one counts.
        for _ in range(WRONG_KEYS):
            page.keyboard.type(WRONG)
            page.wait_for_timeout(self.rng.uniform(25, 60))  # pacing, not waiting
        if word.text_content() == shown:  # still this word (not missed meanwhile)
            marks = self.marks(page)
            self.assertEqual(marks[0], "letra bien")
            self.assertTrue(all(mark == "letra mal" for mark in marks[1:]), marks)
            self.assertEqual(
                page.locator("#palabra-actual .cursor.sobra").count(),
                1 if len(letters) < 1 + WRONG_KEYS else 0,
            )
            self.assertEqual(entrada.get_attribute("aria-invalid"), "true")
            # Live accuracy: one right key of eleven.
            expect(page.locator("#precision-viva")).to_have_text("9,1 %")
            self.shoot(page, f"{name}-juego-errores")
        # Clear the input (one input event that deletes: no wrong key) and type the word.
        page.keyboard.press("Control+a")
        page.keyboard.press("Backspace")
        self.assertEqual(entrada.input_value(), "")
        typed = [self.typeWord(page) for _ in range(3)]
        self.assertTrue(all(typed))
        expect(page.locator("#ppm-vivo")).to_have_text(re.compile(r"^\d+$"))
        expect(page.locator("#precision-viva")).to_have_text(re.compile(r"^\d+(,\d)? %$"))
        self.typeLikeAPerson(page, word.text_content()[:2])
        self.shoot(page, f"{name}-juego", full=False)

        page.keyboard.press("Escape")
        resultado = page.locator("#resultado")
        expect(resultado).to_be_visible()
        expect(page.locator("#resultado-puntaje")).to_have_text(re.compile(r"^\d+$"))
        self.assertEqual(
            page.text_content("#resultado-errores dd"), str(WRONG_KEYS), "wrong keys counted"
        )
        # The per-word chart: one bar per word that ended, an accessible name, a table.
        bars = page.locator("#grafico-tiempos svg rect.barra")
        ended = bars.count()
        self.assertGreaterEqual(ended, 3)
        svg = page.locator("#grafico-tiempos svg")
        self.assertEqual(svg.get_attribute("role"), "img")
        self.assertEqual(page.text_content("#grafico-tiempos-titulo"), "Tiempo de cada palabra")
        self.assertIn("palabras", page.text_content("#grafico-tiempos-desc"))
        self.assertEqual(page.locator("#tabla-tiempos tbody tr").count(), ended)
        self.assertGreaterEqual(page.locator("#palabras-lentas li").count(), 1)
        # Drawn at its size: its text is 12 px on the screen, a phone's too.
        scale = svg.evaluate("svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width")
        self.assertTrue(abs(scale - 1) < 0.02, scale)
        sizes = page.locator("#grafico-tiempos svg text").evaluate_all(
            "texts => texts.map(t => t.getBoundingClientRect().height)"
        )
        self.assertTrue(sizes and min(sizes) >= 11, sizes)
        # One restart action, and the key for it said on screen.
        self.assertTrue(page.is_visible("#jugar-otra-vez"))
        self.assertTrue(page.is_hidden("#controles-inicio"))
        self.assertTrue(page.is_hidden("#comenzar"))
        self.assertIn("Pulsa Intro para jugar otra vez", page.text_content("#resultado"))
        # The page width holds on a phone.
        width = page.evaluate("document.documentElement.scrollWidth")
        self.assertLessEqual(width, page.viewport_size["width"])

        published = page.get_attribute("#juego", "data-resultado") == "publicado"
        self.assertEqual(page.is_visible("#compartir"), published)
        if published:
            # The record, once: the line, no repeated message, and no toast of it even
            # after its notification arrived over the WebSocket.
            self.assertTrue(page.is_visible("#resultado-record"))
            self.assertEqual(page.text_content("#resultado-mensaje"), "")
            self.waitForPush(page, "Nuevo récord personal")
            expect(page.locator("#contador-notificaciones")).to_have_text("1")
            self.assertNotIn("récord", page.text_content("#toasts"))
        self.shoot(page, f"{name}-resultado")
        shared = None
        if published:
            # Share: the result page's address, copied (no share sheet in a headless
            # browser).
            page.click("#compartir")
            expect(page.locator("#compartir-estado")).to_contain_text("Enlace copiado")
            shared = page.evaluate("navigator.clipboard.readText()")
            self.assertRegex(shared, r"^http://127\.0\.0\.1:\d+/resultado/[\w-]+$")
            resultado.focus()

        # Enter plays again (the result has the focus).
        expect(resultado).to_be_focused()
        page.keyboard.press("Enter")
        expect(resultado).to_be_hidden()
        expect(word).to_have_text(re.compile(r"\S"))
        expect(entrada).to_be_focused()
        page.keyboard.press("Escape")
        expect(resultado).to_be_visible()

        if shared is not None:
            page.goto(shared)
            expect(page.locator("#resultado-nombre")).to_have_text("Tecla <b>")
            self.assertEqual(page.get_attribute('meta[property="og:url"]', "content"), shared)
            self.shoot(page, f"{name}-compartido")

    def waitForPush(self, page: Any, text: str) -> None:
        # Polls briefly (the page's event loop runs while Playwright waits): the push
        # comes from the outbox within a second.
        for _ in range(100):
            if any(text in frame for frame in self.pushed):
                return
            page.wait_for_timeout(100)
        self.fail(f"no push with {text!r}: {self.pushed}")


class ProfileAndAdminTests(BrowserCase):
    """
    The bug list's pages on a phone: the profile chart readable and its legend matching
    its bars, "1 partida" in the singular, and the admin's destructive buttons asking for
    a second press.
    """

    def test_profileRankingAndAdminOnAPhone(self) -> None:
        environment = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
        database = f"sqlite:///{self.system.directory / 'juego.db'}"
        subprocess.run(
            [sys.executable, "-m", "juego.admin", "create-admin", "root@example.org",
             "--name", "Root", "--password-stdin", "--database", database],
            input=ADMIN_PASSWORD + "\n", text=True, check=True, env=environment,
            capture_output=True,
        )  # fmt: skip
        self.runInBrowser(PHONE, self.profileRankingAndAdmin)

    def profileRankingAndAdmin(self, page: Any) -> None:
        from playwright.sync_api import expect

        page.goto("/login")
        page.fill("#email", "root@example.org")
        page.fill("#password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/juego")
        page.click("#comenzar")
        expect(page.locator("#palabra-actual")).to_have_text(re.compile(r"\S"))
        for _ in range(2):
            self.typeWord(page)
        page.keyboard.press("Escape")
        expect(page.locator("#resultado-puntaje")).to_have_text(re.compile(r"^\d+$"))

        page.goto("/perfil")
        chart = page.locator("#grafico-partidas")
        expect(page.locator("#grafico-partidas g.contenido rect")).to_have_count(1)
        sizes = page.locator("#grafico-partidas text").evaluate_all(
            "texts => texts.map(t => t.getBoundingClientRect().height)"
        )
        self.assertTrue(sizes and min(sizes) >= 11, sizes)
        scale = chart.evaluate(
            "svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width"
        )
        self.assertTrue(abs(scale - 1) < 0.02, scale)
        best = page.locator("#grafico-partidas rect.barra.mejor").evaluate(
            "bar => getComputedStyle(bar).fill"
        )
        swatch = page.locator("#grafico-leyenda .leyenda-muestra.mejor").evaluate(
            "s => getComputedStyle(s).backgroundColor"
        )
        self.assertEqual(best, swatch)
        self.assertIn("Tu mejor partida", page.text_content("#grafico-leyenda"))
        self.shoot(page, "movil-perfil")
        # Each game links to its own page.
        link = page.locator("#tabla-partidas tbody tr a").first
        self.assertRegex(link.get_attribute("href") or "", r"^/resultado/[\w-]+$")

        page.goto("/ranking")
        expect(page.locator("#mi-posicion")).to_contain_text("Tu posición: 1.º")
        self.assertNotRegex(page.text_content("main") or "", r"\b1 (partidas|puntos)\b")

        page.goto("/admin")
        posted: list[str] = []
        page.on(
            "request",
            lambda request: posted.append(request.url) if request.method == "POST" else None,
        )
        reset = page.locator("tr[data-user-id] .accion-reiniciar").first
        expect(reset).to_have_text("Reiniciar puntuación")
        reset.click()
        expect(reset).to_have_text("¿Seguro? Pulsa otra vez")
        self.shoot(page, "movil-admin-confirmar")
        self.assertEqual(posted, [])
        reset.click()
        expect(page.locator("#toasts")).to_contain_text("reinici", ignore_case=True)
        self.assertEqual(len(posted), 1, posted)
        self.assertIn("/api/admin/reiniciar_puntuacion/", posted[0])

        # Voiding a published result by its id: the same two steps.
        page.fill("#anular-partida", "no-existe")
        page.click("#anular-publicado")
        expect(page.locator("#anular-publicado")).to_have_text("¿Seguro? Pulsa otra vez")
        self.assertEqual(len(posted), 1, posted)
        page.click("#anular-publicado")
        expect(page.locator("#toasts")).to_contain_text("No se pudo anular")
        self.assertEqual(len(posted), 2, posted)
