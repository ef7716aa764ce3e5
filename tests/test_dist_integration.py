"""
juego-dist end to end: a real C{twistd -n juego-dist} process on a SQLite file, and the
seed's own client example ("Ejemplo de Uso del Cliente Distribuido") run verbatim
against it as a script, only its import line changed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from juego.serialization import encode_wire_pickle
from juego.store.scores import SaveRequest
from tests.processes import ServiceProcess, freePort
from tests.support import synchronousStore

CHECKOUT = Path(__file__).resolve().parent.parent
SEED = Path("/work/shared/seed/000_fa671a1e95cca89e.txt")
SECRET = "integration-secret"
#: How long a script may run.
RUN_TIMEOUT = 60.0

#: The seed's example, verbatim but for the import line.
EXAMPLE = """\
from juego.clients import DistributedServiceClient

# Crear cliente
client = DistributedServiceClient()

# Obtener estadísticas de usuario
ok, stats = client.get_user_stats(user_id=1)
if ok:
    print(f"Puntaje máximo: {stats['stats']['puntaje_maximo']}")

# Obtener estadísticas globales
ok, global_stats = client.get_global_stats()
if ok:
    print(f"Total usuarios: {global_stats['stats']['total_usuarios']}")

# Agregar notificación
ok, resp = client.add_notification(
    user_id=1,
    message="¡Nuevo récord alcanzado!",
    notif_type='success'
)

# Obtener notificaciones
ok, resp = client.get_notifications(user_id=1)
if ok:
    for notification in resp['notifications']:
        print(f"{notification['message']} - {notification['timestamp']}")
"""

#: What a script sees from a call while the service is down.
SHOW_RESULT = """\
from juego.clients import DistributedServiceClient
print(repr(DistributedServiceClient().get_user_stats(user_id=1)))
"""


class SeedExampleTests(SynchronousTestCase):
    def setUp(self) -> None:
        # An install's folder as a fresh clone has it: the default database, no settings.
        self.dir = Path(self.mktemp()).resolve()
        (self.dir / "instance").mkdir(parents=True)
        self.databaseURL = f"sqlite:///{self.dir}/instance/usuarios.db"
        store = synchronousStore(self, self.databaseURL)
        user = self.successResultOf(store.users.create("Ana", "ana@example.com", "hash"))
        self.assertEqual(user.id, 1)
        self.successResultOf(store.scores.saveBatch([SaveRequest(user.id, 420)]))
        store.engine.dispose()

    def environ(self, port: int, secret: str | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("JUEGO_SERVICE_SECRET", "DISTRIBUTED_HOST", "JUEGO_DATABASE_URL")
        }
        env["PYTHONPATH"] = os.pathsep.join(
            [str(CHECKOUT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        env["DISTRIBUTED_PORT"] = str(port)
        env["PYTHONIOENCODING"] = "utf-8"
        if secret is not None:
            env["JUEGO_SERVICE_SECRET"] = secret
        return env

    def startService(self, secret: str | None = None, port: int | None = None):
        port = port or freePort()
        # No --database: the service finds instance/usuarios.db (and makes the install's
        # secret beside it) from the folder, as the script finds them.
        service = ServiceProcess(
            "juego-dist",
            ["--listen", f"tcp:{port}:interface=127.0.0.1"],
            str(self.dir),
            port,
            env={"JUEGO_SERVICE_SECRET": secret} if secret is not None else None,
            without=("JUEGO_SERVICE_SECRET", "DISTRIBUTED_HOST", "JUEGO_DATABASE_URL"),
        )
        self.addCleanup(service.stop)
        service.start()
        return service, port, Path(service.logPath)

    def stopService(self, service) -> None:
        service.stop()

    def runScript(self, source: str, port: int, secret: str | None = None):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", source],
            cwd=self.dir,
            env=self.environ(port, secret),
            capture_output=True,
            timeout=RUN_TIMEOUT,
        )
        elapsed = time.monotonic() - started
        stdout, stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
        self.assertEqual(result.returncode, 0, stderr)
        self.assertEqual(stderr, "")
        return stdout, elapsed

    def checkExampleOutput(self, stdout: str, notifications: int = 1) -> None:
        lines = stdout.splitlines()
        self.assertEqual(lines[:2], ["Puntaje máximo: 420", "Total usuarios: 1"])
        self.assertEqual(len(lines), 2 + notifications)
        for line in lines[2:]:
            message, _, stamp = line.partition(" - ")
            self.assertEqual(message, "¡Nuevo récord alcanzado!")
            self.assertIsNotNone(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
            self.assertTrue(stamp.endswith("+00:00"), stamp)

    def test_exampleIsTheSeeds(self):
        if not SEED.exists():
            raise SkipTest("the seed document is not here")
        text = SEED.read_text(encoding="utf-8")
        block = text.split("## Ejemplo de Uso del Cliente Distribuido", 1)[1]
        block = block.split("```python\n", 1)[1].split("```", 1)[0]
        original = block.replace(
            "from app.infrastructure.distributed_service import DistributedServiceClient",
            "from juego.clients import DistributedServiceClient",
        )
        self.assertEqual(EXAMPLE, original)

    def test_seedExample(self):
        process, port, log = self.startService()
        # The service made the install's secret; a stranger's unauthenticated read is
        # refused, and the script from the folder finds the secret with no settings.
        self.assertTrue((self.dir / "instance" / "service-secret").exists())
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b'{"action": "get_user_stats", "user_id": 1}\n')
            self.assertEqual(json.loads(s.makefile("rb").readline())["code"], "unauthorized")
        stdout, _ = self.runScript(EXAMPLE, port)
        self.checkExampleOutput(stdout)

        # Stopped: the example runs to its end, printing nothing, and a call answers
        # a clean "unavailable" within the timeout.
        self.stopService(process)
        self.assertNotIn("Traceback", log.read_text())
        stdout, elapsed = self.runScript(EXAMPLE, port)
        self.assertEqual(stdout, "")
        self.assertLess(elapsed, 15)
        stdout, _ = self.runScript(SHOW_RESULT, port)
        self.assertTrue(stdout.startswith("(False, {'success': False, 'error': "), stdout)
        self.assertIn("'code': 'unavailable'", stdout)

        # Started again on the same database: the notification is still there.
        process, port, log = self.startService(port=port)
        stdout, _ = self.runScript(EXAMPLE, port)
        self.checkExampleOutput(stdout, notifications=2)

    def test_seedExampleWithSecret(self):
        process, port, log = self.startService(secret=SECRET)
        stdout, _ = self.runScript(EXAMPLE, port, secret=SECRET)
        self.checkExampleOutput(stdout)
        # Without the secret a script is refused, cleanly.
        stdout, _ = self.runScript(SHOW_RESULT, port)
        self.assertIn("'code': 'unauthorized'", stdout)
        # A pickle that is not signed with the secret is refused, never loaded.
        data, _ = encode_wire_pickle({"user_id": 1, "message": "sin firma"}, None)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            line = json.dumps({"action": "add_notification", "pickle": data})
            s.sendall(line.encode() + b"\n")
            reply = json.loads(s.makefile("rb").readline())
        self.assertEqual(reply["code"], "unauthorized")
