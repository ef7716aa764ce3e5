"""
The systemd units in C{deploy/systemd/}: C{systemd-analyze verify} accepts each one without a
word of complaint, C{systemd-analyze security --offline} rates each one well hardened, and
each keeps what docs/OPERATIONS.md promises (secrets from an C{EnvironmentFile}, restarted on
failure, a user of its own, stopped with SIGTERM).

Skipped when C{systemd-analyze} is missing, unless C{JUEGO_REQUIRE_SYSTEMD} is set (CI),
where that is a failure. Debian: C{apt-get install systemd}.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.processes import CHECKOUT

UNITS = CHECKOUT / "deploy" / "systemd"
SERVICES = ("juego-web", "juego-tcp", "juego-dist")
#: Where the units expect the installed package's console scripts.
INSTALLED_BIN = "/opt/juego/venv/bin"
#: systemd-analyze security's overall exposure (0-100) a unit may not exceed.
EXPOSURE_THRESHOLD = 20


def systemdAnalyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        reason = "systemd-analyze is not installed (Debian: apt-get install systemd)"
        if os.environ.get("JUEGO_REQUIRE_SYSTEMD"):
            raise AssertionError(
                f"systemd-analyze is required (JUEGO_REQUIRE_SYSTEMD) but {reason}"
            )
        raise SkipTest(reason)
    return found


def readUnit(text: str) -> dict[str, dict[str, list[str]]]:
    """
    A unit file's sections, each key with every value it is given (systemd allows a key
    more than once).
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


class SystemdUnitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.analyze = systemdAnalyze()
        self.directory = Path(self.mktemp()).resolve()
        (self.directory / "bin").mkdir(parents=True)
        # verify checks that ExecStart's program exists: stand-ins where the units say.
        for name in SERVICES:
            program = self.directory / "bin" / name
            program.write_text("#!/bin/sh\n")
            program.chmod(0o755)

    def unitFor(self, name: str) -> Path:
        text = (UNITS / f"{name}.service").read_text()
        self.assertIn(f"{INSTALLED_BIN}/{name} ", text)
        path = self.directory / f"{name}.service"
        path.write_text(text.replace(INSTALLED_BIN, str(self.directory / "bin")))
        return path

    def run_(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.analyze, *args], capture_output=True, text=True, timeout=60, cwd=self.directory
        )

    def test_everyServiceHasAUnit(self) -> None:
        self.assertEqual(
            sorted(p.name for p in UNITS.glob("*.service")),
            sorted(f"{name}.service" for name in SERVICES),
        )

    def test_verifyAcceptsEachUnitSilently(self) -> None:
        for name in SERVICES:
            result = self.run_("verify", "--man=no", str(self.unitFor(name)))
            # An unknown or misspelt setting is only a warning: any word fails the test.
            self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""), name)

    def test_verifyCatchesAMistake(self) -> None:
        """
        The check above can fail: a misspelt setting makes verify speak.
        """
        path = self.unitFor("juego-web")
        path.write_text(path.read_text().replace("ProtectSystem=", "ProtectSystm="))
        result = self.run_("verify", "--man=no", str(path))
        self.assertIn("ProtectSystm", result.stderr)

    def test_hardened(self) -> None:
        for name in SERVICES:
            result = self.run_(
                "security",
                "--offline=true",
                f"--threshold={EXPOSURE_THRESHOLD}",
                "--no-pager",
                str(self.unitFor(name)),
            )
            self.assertEqual(result.returncode, 0, f"{name}:\n{result.stdout}{result.stderr}")

    def test_whatTheRunbookPromises(self) -> None:
        for name in SERVICES:
            unit = readUnit((UNITS / f"{name}.service").read_text())
            service = unit["Service"]
            self.assertEqual(service["EnvironmentFile"], ["/etc/juego/juego.env"], name)
            self.assertEqual(service["Restart"], ["on-failure"], name)
            self.assertEqual(service["User"], ["juego"], name)
            self.assertEqual(service["KillSignal"], ["SIGTERM"], name)
            for setting in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
                self.assertEqual(service[setting], ["yes"], (name, setting))
            self.assertEqual(service["ProtectSystem"], ["strict"], name)
            # The secret never on the command line.
            self.assertNotIn("SECRET", service["ExecStart"][0], name)
            # configparser reads it too (no duplicate sections, well formed).
            parser = configparser.ConfigParser(strict=False, interpolation=None)
            parser.read_string((UNITS / f"{name}.service").read_text())
            self.assertEqual(parser.sections(), ["Unit", "Service", "Install"])
