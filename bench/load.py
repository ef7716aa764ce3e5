"""
A load generator for the line protocol, run as its own process:

    python -m bench.load PORT --connections 16 --in-flight 8 --seconds 5 --users 1000

Each connection keeps C{in-flight} pipelined C{save_score} requests outstanding for the
given time. Prints one JSON line: requests answered, errors, rate and latency percentiles.
With C{--database URL} each connection first makes the service handshake with that
install's secret (L{juego.secret}), before the clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time


async def connection(
    port: int,
    inFlight: int,
    deadline: list[float],
    users: int,
    latencies: list[float],
    counts: dict[str, int],
    keyed: bool,
    secret: bytes | None,
    ready: asyncio.Barrier,
    go: asyncio.Event,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    if secret is not None:
        await handshake(reader, writer, secret)
    await ready.wait()
    await go.wait()
    until = deadline[0]
    rng = random.Random()
    sent: list[float] = []
    serial = 0

    def send() -> None:
        nonlocal serial
        serial += 1
        request = {
            "action": "save_score",
            "user_id": rng.randint(1, users),
            "puntaje": rng.randint(0, 5000),
        }
        if keyed:
            request["idempotency_key"] = f"{id(sent)}-{serial}"
        writer.write(json.dumps(request).encode() + b"\n")
        sent.append(time.perf_counter())

    for _ in range(inFlight):
        send()
    start = 0
    while start < len(sent):
        line = await reader.readline()
        if not line:
            counts["closed"] += 1
            break
        now = time.perf_counter()
        latencies.append(now - sent[start])
        start += 1
        reply = json.loads(line)
        counts["ok" if reply.get("success") else "errors"] += 1
        if now < until:
            send()
    writer.close()


async def handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes
) -> None:
    from juego.wire import auth

    async def ask(request: dict) -> dict:
        writer.write(json.dumps(request).encode() + b"\n")
        return json.loads(await reader.readline())

    nonce = (await ask({"action": "auth_challenge"}))["nonce"]
    clientNonce = auth.newNonce()
    proof = auth.clientProof(secret, nonce, clientNonce)
    reply = await ask({"action": "auth", "client_nonce": clientNonce, "proof": proof})
    if not auth.check(auth.serverProof(secret, nonce, clientNonce), reply.get("proof")):
        raise RuntimeError(f"service handshake failed: {reply}")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main(args: argparse.Namespace) -> dict:
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0, "closed": 0}
    secret = None
    if args.database:
        from juego.secret import serviceSecret

        secret = serviceSecret(args.database, create=False)
    # Every connection made (and authenticated) before the clock starts.
    ready = asyncio.Barrier(args.connections + 1)
    go = asyncio.Event()
    deadline = [0.0]
    tasks = [
        asyncio.ensure_future(
            connection(
                args.port,
                args.in_flight,
                deadline,
                args.users,
                latencies,
                counts,
                args.keyed,
                secret,
                ready,
                go,
            )
        )
        for _ in range(args.connections)
    ]
    await asyncio.wait_for(ready.wait(), 60)
    start = time.perf_counter()
    deadline[0] = start + args.seconds
    go.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {
        "requests": counts["ok"] + counts["errors"],
        "ok": counts["ok"],
        "errors": counts["errors"],
        "seconds": round(elapsed, 3),
        "rate": round((counts["ok"] + counts["errors"]) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--database", help="authenticate with the secret of the install on this database URL"
    )
    parser.add_argument(
        "--keyed", action="store_true", help="send an idempotency key with each save"
    )
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
