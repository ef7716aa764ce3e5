"""
The ranking in a Redis sorted set: a player's position in O(log n), shared by every
juego-dist node. The database stays the source of truth; the set is a cache that may be
lost, flushed or left behind at any time and is then rebuilt from C{user_aggregates}.

Encoding. The contract's position is 1 + the players whose best is higher, or equal and reached
earlier, or equal and reached at the same instant by a lower id. Each player is one member
of the set C{<prefix>ranking}:

  - score: minus the best (so ascending order is best first; bests fit a double exactly);
  - member: C{"<microseconds since 1970 when the best was reached, 20 digits>:<user id, 10
    digits>"}: for equal scores Redis orders members bytewise, which for zero-padded
    digits is the order of (reached, user id).

So C{ZRANK} of a player's member is exactly the number of players ahead of them. The hash
C{<prefix>ranking:members} maps a user id to its member (to find the old member when a
best changes); C{<prefix>ranking:ready} exists while the set is complete.

Keeping it up to date (all changes are Lua scripts, atomic in Redis):

  - after each commit that changes bests (juego-tcp's group commit), the new bests are
    upserted; an upsert only ever raises a player's best, so updates that arrive out of
    order, or overlap a rebuild, cannot lower it;
  - an admin's reset or deletion (juego-web) removes the member and leaves a tombstone
    (the removed best's date, in C{<prefix>ranking:removed}, for L{TOMBSTONE_SECONDS}), so
    that an update or a rebuild chunk read before the removal cannot put it back;
  - an update that fails (Redis away, a timeout) marks this process dirty: as soon as
    Redis answers again it deletes the C{ready} marker first (the set may lack that
    update), and readers use the database until the set is rebuilt;
  - a rebuild (by a juego-dist node: at start-up, when a reader finds C{ready} missing, and
    every L{READY_SECONDS} as the marker expires) takes a lock, empties the set and refills
    it from the database in chunks of L{CHUNK} players on the store's thread pool, then
    sets C{ready}. Live upserts go on meanwhile (they only raise bests, so nothing is lost).

Reading: a reader takes the player's best and its date from the database (it does so
anyway for the rest of the stats), and asks Redis for the rank of the member those give;
when the marker is missing, Redis is away, or the player's member differs (an update still
in flight) the position comes from SQL as it would without Redis.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from juego.cache.link import UNAVAILABLE, RedisLink
from juego.model import UserStats
from juego.store.scores import Best
from juego.store.stats import StatsStore

#: Players read from the database and sent to Redis at once while rebuilding.
CHUNK = 2000
#: Seconds the C{ready} marker lives: the set is rebuilt from the database at least this
#: often, whatever happened to it.
READY_SECONDS = 3600
#: Milliseconds a rebuild holds its lock without making progress before another node
#: may take over.
LOCK_MS = 30_000
#: Seconds a removed player's tombstone is kept.
TOMBSTONE_SECONDS = 600
#: Seconds between two rebuild attempts triggered by readers on this node.
ENSURE_INTERVAL = 1.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# upsert(zset, hash, removed, uid, score, reached, member): 1 if the set changed.
_UPSERT = """
local function upsert(zset, hash, removed, uid, score, reached, member)
  local tomb = redis.call('HGET', removed, uid)
  if tomb and reached <= tomb then return 0 end
  local old = redis.call('HGET', hash, uid)
  if old then
    if old == member then return 0 end
    local oldScore = redis.call('ZSCORE', zset, old)
    if oldScore and tonumber(oldScore) <= tonumber(score) then return 0 end
    redis.call('ZREM', zset, old)
  end
  redis.call('ZADD', zset, score, member)
  redis.call('HSET', hash, uid, member)
  return 1
end
"""

#: KEYS: zset, hash, removed. ARGV: (uid, score, reached, member) per player.
UPDATE_SCRIPT = (
    _UPSERT
    + """
local n = 0
for i = 1, #ARGV, 4 do
  n = n + upsert(KEYS[1], KEYS[2], KEYS[3], ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3])
end
return n
"""
)

#: KEYS: zset, hash, removed. ARGV: tombstone seconds, then (uid, reached or "") per player.
REMOVE_SCRIPT = """
for i = 2, #ARGV, 2 do
  local uid, reached = ARGV[i], ARGV[i+1]
  local old = redis.call('HGET', KEYS[2], uid)
  if old then
    redis.call('ZREM', KEYS[1], old)
    redis.call('HDEL', KEYS[2], uid)
  end
  if reached ~= '' then
    local tomb = redis.call('HGET', KEYS[3], uid)
    if (not tomb) or tomb < reached then redis.call('HSET', KEYS[3], uid, reached) end
    redis.call('EXPIRE', KEYS[3], ARGV[1])
  end
end
return 1
"""

#: KEYS: ready, zset, hash. ARGV: uid, member. The 0-based rank, or -1 (not ready) or
#: -2 (the player's member is not that one).
RANK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return -2 end
local rank = redis.call('ZRANK', KEYS[2], ARGV[2])
if not rank then return -2 end
return rank
"""

#: KEYS: building, ready, zset, hash. ARGV: token, lock ms. 1: started (set emptied);
#: 0: another node is rebuilding; 2: nothing to do.
BEGIN_SCRIPT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('DEL', KEYS[3], KEYS[4])
return 1
"""

#: KEYS: building, zset, hash, removed. ARGV: token, lock ms, then players as for
#: UPDATE_SCRIPT. 0 if the rebuild lost its lock (invalidated, or taken over).
CHUNK_SCRIPT = (
    _UPSERT
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 3, #ARGV, 4 do
  upsert(KEYS[2], KEYS[3], KEYS[4], ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3])
end
return 1
"""
)

#: KEYS: building, ready. ARGV: token, ready seconds.
FINISH_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""


def stamp(when: datetime) -> str:
    """
    Microseconds since 1970 (UTC), 20 digits: bytewise order is time order.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"{(when - _EPOCH) // _MICROSECOND:020d}"


def member(userID: int, reached: datetime) -> str:
    """
    A player's member in the set: for equal bests, bytewise order is ranking order.
    """
    return f"{stamp(reached)}:{userID:010d}"


def _entry(best: Best) -> list[str]:
    return [
        str(best.user_id),
        str(-best.puntaje_maximo),
        stamp(best.fecha_maximo),
        member(best.user_id, best.fecha_maximo),
    ]


class RankingCache:
    """
    The ranking in Redis for one process: a L{juego.store.scores.RankingListener} (the
    writers: juego-tcp, juego-web) and a source of ranked user stats (juego-dist).

    @ivar rebuilds: whether this node rebuilds the set when it finds it incomplete.
    """

    log = Logger()

    def __init__(
        self,
        link: RedisLink,
        stats: StatsStore,
        prefix: str,
        reactor: Any,
        rebuilds: bool = False,
        chunk: int = CHUNK,
        readySeconds: int = READY_SECONDS,
    ) -> None:
        self.link = link
        self.stats = stats
        self.reactor = reactor
        self.rebuilds = rebuilds
        self.chunk = chunk
        self.readySeconds = readySeconds
        self.zset = prefix + "ranking"
        self.hash = prefix + "ranking:members"
        self.ready = prefix + "ranking:ready"
        self.building = prefix + "ranking:building"
        self.removed = prefix + "ranking:removed"
        #: An update may have been lost: invalidate the set as soon as Redis answers.
        self.dirty = False
        self._rebuilding: Deferred[bool] | None = None
        self._lastEnsure = float("-inf")
        self._nextEnsure: Any = None
        self._stopped = False
        link.onUp(self._linkUp)

    def stop(self) -> None:
        self._stopped = True
        if self._nextEnsure is not None and self._nextEnsure.active():
            self._nextEnsure.cancel()
        self._nextEnsure = None

    # Writers (juego.store.scores.RankingListener)

    def bestsChanged(self, bests: Sequence[Best]) -> None:
        args = [arg for best in bests for arg in _entry(best)]
        self._write(UPDATE_SCRIPT, [self.zset, self.hash, self.removed], args)

    def playersRemoved(self, userIDs: Sequence[int], bests: Sequence[Best]) -> None:
        reached = {best.user_id: stamp(best.fecha_maximo) for best in bests}
        args = [str(TOMBSTONE_SECONDS)]
        for userID in userIDs:
            args += [str(userID), reached.get(userID, "")]
        self._write(REMOVE_SCRIPT, [self.zset, self.hash, self.removed], args)

    def _write(self, script: str, keys: list[str], args: list[str]) -> None:
        if self.dirty:
            self.invalidate()
        self.link.call("eval", script, keys, args).addErrback(self._writeFailed)

    def _writeFailed(self, failure: Failure) -> None:
        self.dirty = True
        if not failure.check(*UNAVAILABLE):
            self.log.warn(
                "could not update the ranking in Redis ({error}); it will be rebuilt",
                error=failure.getErrorMessage(),
            )

    def invalidate(self) -> Deferred[None]:
        """
        Mark the set incomplete (readers use the database until it is rebuilt) and stop
        any rebuild under way.
        """
        self.dirty = False

        def failed(failure: Failure) -> None:
            self.dirty = True

        return (
            self.link.call("delete", [self.ready, self.building])
            .addCallback(lambda _: None)
            .addErrback(failed)
        )

    def _linkUp(self, protocol: object) -> None:
        if self.dirty:
            self.invalidate()
        if self.rebuilds:
            self.ensure()

    # Readers

    def userStats(self, userID: int) -> Deferred[UserStats | None]:
        """
        A player's stats as L{StatsStore.userStats} gives them, the position from Redis
        when it can.
        """

        def ranked(found: tuple[UserStats, datetime | None] | None) -> Any:
            if found is None:
                return None
            stats, reached = found
            if reached is None:
                return stats
            return self.position(userID, stats.puntaje_maximo, reached).addCallback(
                lambda position: attrs.evolve(stats, posicion_ranking=position)
            )

        return self.stats.unrankedUserStats(userID).addCallback(ranked)

    def cachedPosition(self, userID: int, reached: datetime) -> Deferred[int | None]:
        """
        The position Redis gives the player whose best was reached then, or L{None} when
        it cannot say (the set incomplete, Redis away, an update in flight).
        """

        def answer(rank: int) -> int | None:
            if rank == -1:
                self.ensure()
            return rank + 1 if isinstance(rank, int) and rank >= 0 else None

        return (
            self.link.call(
                "eval",
                RANK_SCRIPT,
                [self.ready, self.zset, self.hash],
                [str(userID), member(userID, reached)],
            )
            .addCallback(answer)
            .addErrback(self._readFailed)
        )

    def _readFailed(self, failure: Failure) -> None:
        if not failure.check(*UNAVAILABLE):
            self.log.warn(
                "could not read the ranking from Redis ({error}); using the database",
                error=failure.getErrorMessage(),
            )
        return None

    def position(self, userID: int, best: int, reached: datetime) -> Deferred[int]:
        """
        The player's position: from Redis if it can say, else from SQL.
        """

        def fallBack(position: int | None) -> int | Deferred[int]:
            if position is not None:
                return position
            return self.stats.position(userID, best, reached)

        return self.cachedPosition(userID, reached).addCallback(fallBack)

    # Rebuilding

    def ensure(self) -> None:
        """
        Rebuild the set if it is incomplete and nobody else is at it: at once, or at the
        end of L{ENSURE_INTERVAL} since this node's last attempt.
        """
        if not self.rebuilds or self._stopped or self._rebuilding is not None:
            return
        if self._nextEnsure is not None:
            return  # one is due
        wait = self._lastEnsure + ENSURE_INTERVAL - self.reactor.seconds()
        if wait > 0:
            self._nextEnsure = self.reactor.callLater(wait, self._ensureNow)
            return
        self._ensureNow()

    def _ensureNow(self) -> None:
        self._nextEnsure = None
        if self._stopped or self._rebuilding is not None:
            return
        self._lastEnsure = self.reactor.seconds()
        self.rebuild()

    def rebuild(self) -> Deferred[bool]:
        """
        Refill the set from the database, unless it is complete or another node is at
        it: whether this call completed it.
        """
        if self._rebuilding is not None:
            return self._rebuilding
        d = self._rebuilding = Deferred.fromCoroutine(self._rebuild())

        def done(result: bool | Failure) -> bool:
            self._rebuilding = None
            if isinstance(result, Failure):
                if not result.check(*UNAVAILABLE):
                    self.log.failure("rebuilding the ranking in Redis failed", result)
                return False
            return result

        d.addBoth(done)
        return d

    async def _rebuild(self) -> bool:
        token = secrets.token_hex(8)
        started = await self.link.call(
            "eval",
            BEGIN_SCRIPT,
            [self.building, self.ready, self.zset, self.hash],
            [token, str(LOCK_MS)],
        )
        if started != 1:
            return False
        began = self.reactor.seconds()
        after, count = 0, 0
        while True:
            if self._stopped:
                return False
            bests = await self.stats.bests(after, self.chunk)
            if bests:
                args = [token, str(LOCK_MS)] + [a for best in bests for a in _entry(best)]
                kept = await self.link.call(
                    "eval", CHUNK_SCRIPT, [self.building, self.zset, self.hash, self.removed], args
                )
                if kept != 1:
                    self.log.info("ranking rebuild abandoned: the set was invalidated meanwhile")
                    return False
                count += len(bests)
                after = bests[-1].user_id
            if len(bests) < self.chunk:
                break
        finished = await self.link.call(
            "eval", FINISH_SCRIPT, [self.building, self.ready], [token, str(self.readySeconds)]
        )
        if finished != 1:
            return False
        self.log.info(
            "ranking rebuilt in Redis from the database: {count} players in {seconds:.2f} s",
            count=count,
            seconds=self.reactor.seconds() - began,
        )
        return True
