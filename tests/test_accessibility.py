"""
Accessibility in a real browser: axe-core (the npm package pinned in tests/axe, installed
by C{make axe}, which C{make test} runs) checks every page, in the light and the dark
theme, on a desktop (1280x800) and a phone (390x844), and the test fails on any
violation, listing them. The same browser checks that the theme and the game's language
are remembered across a reload, for a guest (this browser) and for a player (the
account).

Debian's Chromium through Playwright, as tests/test_browser.py: skipped when Chromium,
Playwright or axe-core is missing, unless C{JUEGO_REQUIRE_BROWSER} is set (CI), where
that is a failure.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.processes import CHECKOUT
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, System, requireBrowser, unavailable

AXE = CHECKOUT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ADMIN_EMAIL = "root@example.org"
ADMIN_PASSWORD = "caballo-grapa-bateria-9"

SIZES = {"escritorio": (1280, 800), "movil": (390, 844)}
THEMES = ("light", "dark")
#: Pages as a guest sees them, and as a signed-in admin does (the error page: any
#: path that does not exist).
GUEST_PAGES = ["/", "/juego", "/ranking", "/como-funciona", "/login", "/registro", "/no-existe"]
MEMBER_PAGES = [
    "/",
    "/juego",
    "/carrera",
    "/ranking",
    "/como-funciona",
    "/perfil",
    "/notificaciones",
    "/admin",
    "/no-existe",
]

#: axe's run: every rule of WCAG 2.x A and AA, and its best practices.
AXE_RUN = """
async () => {
  const result = await axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa',
                                     'best-practice'] },
    resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
  }));
}
"""

#: A ranking table with the three medals, on an ordinary row and on the player's own
#: (C{tr.yo}), built as /static/js/ranking.js builds its rows.
MEDALS = """
() => {
  const table = document.createElement('table');
  table.className = 'tabla';
  const body = table.createTBody();
  for (const clase of ['', 'yo']) {
    const row = body.insertRow();
    row.className = clase;
    for (const n of [1, 2, 3]) {
      const medal = document.createElement('span');
      medal.className = `medalla medalla-${n}`;
      medal.textContent = String(n);
      const cell = row.insertCell();
      cell.className = 'num';
      cell.append(medal);
    }
  }
  const box = document.createElement('div');
  box.className = 'tabla-contenedor';
  box.id = 'medallas-prueba';
  box.append(table);
  document.querySelector('main').prepend(box);
}
"""

#: axe's colour contrast rule alone, on the medals' table.
AXE_CONTRAST = """
async () => {
  const result = await axe.run('#medallas-prueba', {
    runOnly: { type: 'rule', values: ['color-contrast'] },
    resultTypes: ['violations', 'incomplete', 'passes'],
  });
  const summaries = (found) => found.flatMap((v) => v.nodes.map((n) => n.failureSummary));
  return {
    violations: summaries(result.violations),
    incomplete: summaries(result.incomplete),
    passes: result.passes.flatMap((v) => v.nodes.map((n) => n.target.join(' '))),
  };
}
"""


def requireAxe() -> str:
    if not AXE.is_file():
        unavailable(f"axe-core is not installed ({AXE}): make axe")
    return AXE.read_text(encoding="utf-8")


def createAdmin(system: System) -> None:
    environment = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    database = f"sqlite:///{system.directory / 'juego.db'}"
    subprocess.run(
        [sys.executable, "-m", "juego.admin", "create-admin", ADMIN_EMAIL,
         "--name", "Root", "--password-stdin", "--database", database],
        input=ADMIN_PASSWORD + "\n", text=True, check=True, env=environment,
        capture_output=True,
    )  # fmt: skip


def logIn(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/juego$"))


def playAGame(page: Any, words: int = 4) -> None:
    """
    A short game typed as a person types, so the boards, the profile and the admin's
    tables have rows.
    """
    from playwright.sync_api import expect

    word = page.locator("#palabra-actual")
    page.click("#comenzar")
    expect(word).to_have_text(re.compile(r"\S"))
    rng = random.Random(words)
    for _ in range(words):
        shown = word.text_content()
        for letter in shown:
            page.keyboard.type(letter)
            page.wait_for_timeout(rng.lognormvariate(5.0, 0.45))  # pacing, not waiting
        expect(word).not_to_have_text(shown)
    page.click("#terminar")
    page.wait_for_selector("#resultado", state="visible")


def describe(violations: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for where, found in violations.items():
        for v in found:
            lines.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}")
            for node in v["nodes"][:5]:
                summary = " ".join((node["summary"] or "").split())
                lines.append(f"    {node['target']}: {summary[:300]}")
    return "\n".join(lines)


class BrowserCase(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()
        self.axe = requireAxe()
        self.system = System(self)
        self.system.waitUntilUp()

    @contextmanager
    def browser(self) -> Iterator[Any]:
        from playwright.sync_api import expect, sync_playwright

        # Waits use locators: a string predicate would be eval'd in the page, which the
        # CSP forbids.
        expect.set_options(timeout=30_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            except Exception as e:
                raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e
            finally:
                browser.close()


class AccessibilityTests(BrowserCase):
    def audit(self, page: Any, path: str) -> list[dict[str, Any]]:
        page.goto(self.system.base + path)
        page.wait_for_load_state("networkidle")
        # Evaluated through the DevTools protocol, which the page's CSP does not govern
        # (an injected <script> would be refused, rightly).
        page.evaluate(self.axe)
        result: list[dict[str, Any]] = page.evaluate(AXE_RUN)
        return result

    def test_noViolationsAnywhere(self) -> None:
        createAdmin(self.system)
        violations: dict[str, list[dict[str, Any]]] = {}
        audited = 0
        with self.browser() as browser:
            guest = browser.new_context(reduced_motion="reduce")
            member = browser.new_context(reduced_motion="reduce")
            page = member.new_page()
            logIn(page, self.system.base)
            playAGame(page)
            for context, pages in [(guest, GUEST_PAGES), (member, MEMBER_PAGES)]:
                who = "invitado" if context is guest else "admin"
                page = context.new_page()
                for theme in THEMES:
                    page.emulate_media(color_scheme=theme, reduced_motion="reduce")
                    for size, (width, height) in SIZES.items():
                        page.set_viewport_size({"width": width, "height": height})
                        for path in pages:
                            found = self.audit(page, path)
                            audited += 1
                            if found:
                                violations[f"{path} ({who}, {theme}, {size})"] = found
        self.assertEqual(audited, (len(GUEST_PAGES) + len(MEMBER_PAGES)) * 4)
        if violations:
            self.fail("axe-core found violations:\n" + describe(violations))

    def test_medalsReadable(self) -> None:
        """
        Found by a playtest: the silver medal's number read at 4.0:1 on the ranking.
        Every medal, on an ordinary row and on the player's own, passes axe's contrast
        rule in both themes (the full audit sees only the medals its one player wins).
        """
        with self.browser() as browser:
            page = browser.new_page()
            for theme in THEMES:
                page.emulate_media(color_scheme=theme, reduced_motion="reduce")
                page.goto(self.system.base + "/ranking")
                page.wait_for_load_state("networkidle")
                page.evaluate(MEDALS)
                page.evaluate(self.axe)
                found = page.evaluate(AXE_CONTRAST)
                self.assertEqual(found["violations"], [], theme)
                # Nothing left undecided (axe leaves a colour just under the threshold,
                # next to the medal's disc, as "needs review"): the six medals pass.
                self.assertEqual(found["incomplete"], [], theme)
                self.assertEqual(
                    len([t for t in found["passes"] if "medalla" in t]), 6, found["passes"]
                )

    def test_axeFindsAViolation(self) -> None:
        """
        The audit sees a violation when there is one: a page made to break a rule (an
        image without text) fails it.
        """
        with self.browser() as browser:
            page = browser.new_page()
            page.goto(self.system.base + "/")
            page.wait_for_load_state("networkidle")
            page.evaluate(
                "() => document.querySelector('main').append(document.createElement('img'))"
            )
            page.evaluate(self.axe)
            found = page.evaluate(AXE_RUN)
        self.assertIn("image-alt", [v["id"] for v in found])


class RememberedTests(BrowserCase):
    def background(self, page: Any) -> str:
        return str(page.evaluate("() => getComputedStyle(document.body).backgroundColor"))

    def test_guestThemeSurvivesAReload(self) -> None:
        """
        A guest's theme, chosen in the nav, is this browser's: it holds across a reload
        and other pages, against the device's own, before the page's scripts run.
        """
        from playwright.sync_api import expect

        with self.browser() as browser:
            context = browser.new_context(color_scheme="light")
            page = context.new_page()
            page.goto(self.system.base + "/ranking")
            light = self.background(page)
            self.assertEqual(page.input_value("#selector-tema"), "sistema")
            page.select_option("#selector-tema", "oscuro")
            expect(page.locator("html")).to_have_attribute("data-tema", "oscuro")
            dark = self.background(page)
            self.assertNotEqual(light, dark)
            page.reload()
            self.assertEqual(page.get_attribute("html", "data-tema"), "oscuro")
            self.assertEqual(self.background(page), dark)
            page.goto(self.system.base + "/como-funciona")
            self.assertEqual(page.input_value("#selector-tema"), "oscuro")
            # Light chosen on a dark device.
            page.emulate_media(color_scheme="dark")
            page.select_option("#selector-tema", "claro")
            page.reload()
            self.assertEqual(self.background(page), light)
            # And back to the device's.
            page.select_option("#selector-tema", "sistema")
            page.reload()
            self.assertEqual(self.background(page), dark)

    def test_playersThemeAndLanguageFollowTheAccount(self) -> None:
        """
        A player's theme and game language are the account's: chosen in one browser,
        they are there after a reload and in another browser that signs in.
        """
        from playwright.sync_api import expect

        createAdmin(self.system)
        with self.browser() as browser:
            page = browser.new_context(color_scheme="light").new_page()
            logIn(page, self.system.base)
            self.assertEqual(page.input_value("#idioma"), "es")
            with page.expect_response("**/api/perfil") as saved:
                page.select_option("#idioma", "en")
            self.assertEqual(saved.value.status, 200)
            with page.expect_response("**/api/perfil") as saved:
                page.select_option("#selector-tema", "oscuro")
            self.assertEqual(saved.value.status, 200)
            page.reload()
            self.assertEqual(page.input_value("#idioma"), "en")
            self.assertEqual(page.get_attribute("html", "data-tema"), "oscuro")

            elsewhere = browser.new_context(color_scheme="light").new_page()
            logIn(elsewhere, self.system.base)
            expect(elsewhere.locator("#idioma")).to_have_value("en")
            self.assertEqual(elsewhere.get_attribute("html", "data-tema"), "oscuro")
            self.assertEqual(elsewhere.input_value("#selector-tema"), "oscuro")

    def test_newAccountKeepsTheGuestsChoices(self) -> None:
        """
        A guest who chose a theme and signs up finds it on the new account (and so in any
        other browser).
        """
        from playwright.sync_api import expect

        with self.browser() as browser:
            page = browser.new_context(color_scheme="light").new_page()
            page.goto(self.system.base + "/registro")
            page.select_option("#selector-tema", "oscuro")
            page.fill("#nombre", "Eva")
            page.fill("#email", "eva@example.com")
            page.fill("#password", ADMIN_PASSWORD)
            with page.expect_response("**/api/perfil") as saved:
                page.click("button[type=submit]")
            self.assertEqual(saved.value.status, 200)
            page.wait_for_url(re.compile(r".*/juego$"))
            self.assertEqual(page.get_attribute("html", "data-tema"), "oscuro")
            expect(page.locator("#selector-tema")).to_have_value("oscuro")

            elsewhere = browser.new_context(color_scheme="light").new_page()
            elsewhere.goto(self.system.base + "/login")
            elsewhere.fill("#email", "eva@example.com")
            elsewhere.fill("#password", ADMIN_PASSWORD)
            elsewhere.click("button[type=submit]")
            elsewhere.wait_for_url(re.compile(r".*/juego$"))
            self.assertEqual(elsewhere.get_attribute("html", "data-tema"), "oscuro")


class PhoneLayoutTests(BrowserCase):
    """
    Found by a new-player playtest on a phone (390x844): what a page shows fits the
    screen, without content hidden off its edge.
    """

    def phone(self, browser: Any) -> Any:
        width, height = SIZES["movil"]
        return browser.new_page(viewport={"width": width, "height": height})

    def test_rulesFitAPhone(self) -> None:
        """
        /como-funciona's formula and tables fit the width (they were cut off, the rest
        only reachable by scrolling sideways inside them, with nothing to say so).
        """
        with self.browser() as browser:
            page = self.phone(browser)
            page.goto(self.system.base + "/como-funciona")
            widths = page.evaluate(
                """() => [...document.querySelectorAll('.formula, .tabla-contenedor')].map(
                    (e) => [e.id || e.className, e.scrollWidth, e.clientWidth])"""
            )
            self.assertEqual(len(widths), 3, widths)
            for name, scroll, client in widths:
                self.assertLessEqual(scroll, client, name)
            self.assertLessEqual(
                page.evaluate("() => document.documentElement.scrollWidth"), SIZES["movil"][0]
            )

    def test_ownBadgeInOnePiece(self) -> None:
        """
        The "tú" pill beside the player's own name (here the admin's users table, whose
        names may break anywhere) is one piece: it was split over two lines.
        """
        createAdmin(self.system)
        with self.browser() as browser:
            page = self.phone(browser)
            logIn(page, self.system.base)
            page.goto(self.system.base + "/admin")
            page.locator("tr.yo .celda-nombre").wait_for()
            badge = page.evaluate(
                """() => {
                    const style = getComputedStyle(
                        document.querySelector('tr.yo .celda-nombre'), '::after');
                    return [style.content, style.display, style.whiteSpace,
                            parseFloat(style.height), parseFloat(style.fontSize)];
                }"""
            )
            content, display, whiteSpace, height, fontSize = badge
            self.assertEqual(content, '"tú"')
            self.assertEqual((display, whiteSpace), ("inline-block", "nowrap"))
            # One line of its text: not two.
            self.assertLess(height, 2 * fontSize)
