"""
The peer for the verified-save rows: the seed's architecture as its design document
describes it (the design juego replaced), written plainly, so that juego's verified saves
are measured beside the seed's unverified ones with the same load generator in the same
run.

  - web (port 5000 in the seed): Flask's threaded development server (C{app.run(threaded=
    True)}), sessions in Flask's signed cookie; C{POST /api/guardar_puntaje} takes the
    C{puntaje} the client sends (no partida, no verification), saves it through the TCP
    persistence server, and tells the distributed service when it is a new record;
  - tcp (6000): C{socketserver} with a thread per client, one JSON line in, one out,
    C{save_score} opens the SQLite database, inserts the score, raises the player's best
    and commits, per save;
  - dist (7000): the same kind of server; C{add_notification} inserts a row and commits.

The web server's client opens a connection per call, as the seed's C{tcp_client.py} did.
The development server closes the HTTP connection after each answer, so the load
generator opens one per save here (inside each save's measured time), where juego-web
keeps them open.

    python -m bench.seed_reference tcp PORT DATABASE
    python -m bench.seed_reference dist PORT DATABASE
    python -m bench.seed_reference web PORT DATABASE --tcp PORT --dist PORT --secret KEY
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS usuarios (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nombre TEXT UNIQUE NOT NULL,
    email TEXT UNIQUE NOT NULL,
    password TEXT NOT NULL,
    puntaje_maximo INTEGER DEFAULT 0,
    fecha_registro TEXT
);
CREATE TABLE IF NOT EXISTS puntajes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    usuario_id INTEGER NOT NULL REFERENCES usuarios(id),
    puntaje INTEGER NOT NULL,
    fecha TEXT
);
CREATE TABLE IF NOT EXISTS notificaciones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    usuario_id INTEGER NOT NULL,
    mensaje TEXT NOT NULL,
    tipo TEXT,
    leida INTEGER DEFAULT 0,
    fecha TEXT
);
"""


def prepareDatabase(path: Path, players: int) -> None:
    """
    The seed's database with C{players} players (ids 1..N).
    """
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO usuarios (id, nombre, email, password, fecha_registro)"
            " VALUES (?, ?, ?, 'x', ?)",
            [
                (i, f"jugador {i}", f"jugador{i}@bench.example", datetime.now().isoformat())
                for i in range(1, players + 1)
            ],
        )


def sessionCookies(secret: str, userIDs: list[int]) -> list[str]:
    """
    Flask session cookies (C{session["user_id"]}) for these players, as the seed's login
    would have set them.
    """
    from flask import Flask

    app = Flask("seed")
    app.secret_key = secret
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return [f"session={serializer.dumps({'user_id': i})}" for i in userIDs]


# -- the line servers -------------------------------------------------------------------


class LineHandler(socketserver.StreamRequestHandler):
    """
    One client: JSON lines in, JSON lines out, until it closes.
    """

    database: str

    def handle(self) -> None:
        for line in self.rfile:
            try:
                reply = self.answer(json.loads(line))
            except Exception as e:
                reply = {"success": False, "error": str(e)}
            self.wfile.write(json.dumps(reply).encode("utf-8") + b"\n")

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("action") == "ping":
            return {"success": True, "message": "pong"}
        return {"success": False, "error": "acción desconocida"}


class PersistenceHandler(LineHandler):
    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("action") != "save_score":
            return super().answer(request)
        userID, puntaje = int(request["user_id"]), int(request["puntaje"])
        db = sqlite3.connect(self.database, timeout=30)
        try:
            row = db.execute(
                "SELECT puntaje_maximo FROM usuarios WHERE id = ?", (userID,)
            ).fetchone()
            if row is None:
                return {"success": False, "error": "Usuario no encontrado"}
            cursor = db.execute(
                "INSERT INTO puntajes (usuario_id, puntaje, fecha) VALUES (?, ?, ?)",
                (userID, puntaje, datetime.now().isoformat()),
            )
            nuevo = puntaje > (row[0] or 0)
            if nuevo:
                db.execute("UPDATE usuarios SET puntaje_maximo = ? WHERE id = ?", (puntaje, userID))
            db.commit()
            return {
                "success": True,
                "score_id": cursor.lastrowid,
                "nuevo_record": nuevo,
                "puntaje_maximo": max(puntaje, row[0] or 0),
            }
        finally:
            db.close()


class DistributedHandler(LineHandler):
    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("action") != "add_notification":
            return super().answer(request)
        db = sqlite3.connect(self.database, timeout=30)
        try:
            db.execute(
                "INSERT INTO notificaciones (usuario_id, mensaje, tipo, fecha) VALUES (?, ?, ?, ?)",
                (
                    int(request["user_id"]),
                    str(request["message"]),
                    request.get("notif_type", "info"),
                    datetime.now().isoformat(),
                ),
            )
            db.commit()
            return {"success": True}
        finally:
            db.close()


class ThreadedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serveLines(handler: type[LineHandler], port: int, database: str) -> None:
    handler.database = database
    with ThreadedServer((HOST, port), handler) as server:
        server.serve_forever()


def call(port: int, request: dict[str, Any]) -> dict[str, Any]:
    """
    The seed's client: a connection per request.
    """
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(json.dumps(request).encode("utf-8") + b"\n")
        reply = s.makefile("rb").readline()
    return json.loads(reply)


# -- the web server ---------------------------------------------------------------------


def makeApp(database: str, tcpPort: int, distPort: int, secret: str) -> Any:
    from flask import Flask, jsonify, request, session

    app = Flask("seed")
    app.secret_key = secret

    def currentUser() -> tuple[int, str] | None:
        userID = session.get("user_id")
        if userID is None:
            return None
        db = sqlite3.connect(database, timeout=30)
        try:
            return db.execute("SELECT id, nombre FROM usuarios WHERE id = ?", (userID,)).fetchone()
        finally:
            db.close()

    @app.post("/api/guardar_puntaje")
    def guardarPuntaje() -> Any:
        user = currentUser()
        if user is None:
            return jsonify({"success": False, "error": "No autenticado"}), 401
        data = request.get_json()
        puntaje = int(data.get("puntaje", 0))
        try:
            reply = call(tcpPort, {"action": "save_score", "user_id": user[0], "puntaje": puntaje})
        except OSError:
            return jsonify(
                {"success": False, "error": "Servidor de persistencia no disponible"}
            ), 503
        if not reply.get("success"):
            return jsonify(reply), 400
        if reply.get("nuevo_record"):
            try:
                call(
                    distPort,
                    {
                        "action": "add_notification",
                        "user_id": user[0],
                        "message": f"¡Nuevo récord: {puntaje} puntos!",
                        "notif_type": "success",
                    },
                )
            except OSError:
                pass  # the seed carries on without the distributed service
        return jsonify(
            {
                "success": True,
                "puntaje": puntaje,
                "nuevo_record": reply["nuevo_record"],
                "puntaje_maximo": reply["puntaje_maximo"],
                "message": "Puntaje guardado",
            }
        )

    return app


def serveWeb(port: int, database: str, tcpPort: int, distPort: int, secret: str) -> None:
    import logging

    # The development server's access line per request stays on, as in the seed; it goes
    # to standard error (the benchmark discards it).
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    makeApp(database, tcpPort, distPort, secret).run(
        host=HOST, port=port, threaded=True, use_reloader=False
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed_reference")
    parser.add_argument("role", choices=["web", "tcp", "dist"])
    parser.add_argument("port", type=int)
    parser.add_argument("database")
    parser.add_argument("--tcp", type=int)
    parser.add_argument("--dist", type=int)
    parser.add_argument("--secret", default="seed")
    args = parser.parse_args(argv)
    if args.role == "tcp":
        serveLines(PersistenceHandler, args.port, args.database)
    elif args.role == "dist":
        serveLines(DistributedHandler, args.port, args.database)
    else:
        serveWeb(args.port, args.database, args.tcp, args.dist, args.secret)
    return 0


if __name__ == "__main__":
    sys.exit(main())
