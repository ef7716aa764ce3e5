"""
/como-funciona explains the integrity pipeline with the thresholds the code uses, and
names the human records they come from; /juego has the certification panel.
"""

from __future__ import annotations

from juego.game import rules
from juego.game.captcha import OBJETIVO, PRECISION_MINIMA
from tests.websupport import WebTestCase


class ComoFuncionaTests(WebTestCase):
    def page(self) -> str:
        reply = self.client().get("/como-funciona")
        self.assertEqual(reply.status, 200)
        return reply.body.decode()

    def test_pipeline(self):
        html = self.page()
        for hook in ['id="integridad"', 'id="etapas-integridad"', 'id="certificacion"']:
            self.assertIn(hook, html)
        for stage in ["Reglas.", "Ritmo de tecleo.", "Certificación.", "Ranking."]:
            self.assertIn(stage, html)

    def test_thresholdsFromTheCode(self):
        """
        The numbers on the page are the constants the checks use.
        """
        html = self.page()
        for text in [
            f"supera {rules.WPM_RECHAZO} ppm",
            f"supera {rules.WPM_REVISION} ppm",
            f"supera {rules.WPM_CERTIFICACION} ppm y en más de un "
            f"{round((rules.MARGEN_CERTIFICACION - 1) * 100)} %",
            f"a partir de {round(rules.VELOCIDAD_CERTIFICADA_POR_DEFECTO * 1.25)} ppm",
            f"al menos {rules.MIN_INTERVALOS} intervalos",
            f"{round(rules.PEGADO_MAXIMO * 100)} % o más de palabras de {rules.PEGADO_LETRAS}",
            f"<strong>{round(OBJETIVO * 100)} %</strong>",
            f"<strong>{round(PRECISION_MINIMA * 100)} %</strong>",
        ]:
            self.assertIn(text, html)

    def test_recordsNamed(self):
        html = self.page()
        for source in [
            "Stella Pajunas",
            "216 ppm",
            "1946",
            "Barbara Blackburn",
            "150 ppm durante 50 minutos",
            "212 ppm",
            "Guinness",
            "TypeRacer",
            "Monkeytype",
            "40 ppm",
        ]:
            self.assertIn(source, html)


class JuegoPanelTests(WebTestCase):
    def test_panel(self):
        client, _ = self.signUp()
        html = client.get("/juego").body.decode()
        for hook in [
            'id="certificacion"',
            'id="hacer-prueba"',
            'id="prueba-imagen"',
            '<label for="prueba-texto">',
            'id="prueba-veredicto"',
            f'src="{self.app.static.assets.url("js/certificacion.js")}"',
        ]:
            self.assertIn(hook, html)
        # No inline script (CSP): every <script> has a src.
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)[^>]*>")
        reply = client.get("/static/js/certificacion.js")
        self.assertEqual(reply.status, 200)
        self.assertIn(b"export async function showCertification", reply.body)
