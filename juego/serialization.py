"""Serialisation helpers: a trusted path for local data and a guarded path for the network.

There are two deliberately separate halves in this module.

B{Trusted path} -- L{serialize}, L{deserialize} and L{Serializer}.
These are the seed's API for the caller's I{own} data (files it wrote, values it built).
They pickle and unpickle any class, exactly like L{pickle} does, so the seed's
C{MiObjeto} example keeps working.  Unpickling runs whatever code the pickle names, so
these functions must never see bytes that came from somebody else.

B{Network path} -- L{encode_wire_pickle} and L{decode_wire_pickle}.
Everything a TCP peer sends is untrusted, and a pickle from a peer is loaded only
through these layers, in this order:

1. I{Size cap}: text longer than L{MAX_WIRE_PICKLE_CHARS} is refused unread.
2. I{Signature}: when a shared secret is configured, the raw pickle bytes must carry a
   valid HMAC-SHA256 (compared with L{hmac.compare_digest}) or they are refused
   before any pickle machinery touches them.
3. I{Allow-list}: L{SafeUnpickler} resolves globals only from a fixed table
   (a few builtins, L{datetime}, L{decimal.Decimal}, L{uuid.UUID},
   L{collections.OrderedDict}), the classes exported by C{juego.model} and
   classes registered with L{allow_class}.  Any other global raises
   L{ForbiddenGlobal} -- even in a correctly signed pickle.  It also keeps allowed
   pieces from being abused while loading (what it calls, what it hashes, what
   C{BUILD} may change: see its docstring).
4. I{Shape}: the loaded value may not nest deeper than L{MAX_NESTING_DEPTH} nor
   expand (shared parts counted each time) beyond L{MAX_EXPANDED_WEIGHT}.

Any error while loading (a truncated stream, a length past the end, C{RecursionError},
C{MemoryError}, ...) is a refusal too, never an escape.
Every refusal is a L{PickleRefused} (a L{ValueError}) whose message is
Spanish, since it ends up in a reply to the peer.

Why C{copyreg} is not on the allow-list: C{copyreg._reconstructor(cls, base, state)}
calls C{base.__new__} and C{base.__init__} with attacker-chosen arguments, so with
any allowed class it becomes a general constructor; it is only emitted by pickle
protocols 0 and 1.  C{copyreg.__newobj__} / C{__newobj_ex__} are never emitted as
globals by protocols 2 and above: the pickler turns them into the C{NEWOBJ} /
C{NEWOBJ_EX} opcodes.  L{encode_wire_pickle} always uses protocol 5, so no
C{copyreg} global is ever needed (the test-suite checks the globals it emits).
"""

from __future__ import annotations

import base64
import builtins
import collections
import datetime
import decimal
import enum
import hashlib
import hmac
import importlib
import io
import itertools
import json
import math
import pickle
import struct
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from juego.secret import ENV_VAR, environmentSecret

__all__ = [
    "MAX_CALL_INT_BITS",
    "MAX_COLLIDABLE_KEYS",
    "MAX_EXPANDED_WEIGHT",
    "MAX_NESTING_DEPTH",
    "MAX_VALUE_NODES",
    "MAX_WIRE_PICKLE_CHARS",
    "SECRET_ENV_VAR",
    "WIRE_PICKLE_PROTOCOL",
    "BadSignature",
    "ForbiddenGlobal",
    "PickleRefused",
    "SafeUnpickler",
    "Serializer",
    "allow_class",
    "decode_wire_pickle",
    "deserialize",
    "encode_wire_pickle",
    "secret_from_env",
    "serialize",
]


# ---------------------------------------------------------------------------
# Trusted path: the caller's own data
# ---------------------------------------------------------------------------

_HYBRID_JSON_PREFIX = "json:"
_HYBRID_PICKLE_PREFIX = "pickle:"


def _serialize_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _deserialize_json(text: str | bytes) -> Any:
    return json.loads(text)


def _serialize_pickle(data: Any) -> bytes:
    return pickle.dumps(data)


def _deserialize_pickle(data: bytes) -> Any:
    # Trusted data only: this runs any code the pickle names.
    return pickle.loads(data)


def _serialize_pickle_base64(data: Any) -> str:
    return base64.b64encode(pickle.dumps(data)).decode("ascii")


def _deserialize_pickle_base64(text: str | bytes) -> Any:
    # Trusted data only: this runs any code the pickle names.
    return pickle.loads(base64.b64decode(text))


_SERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "json": _serialize_json,
    "pickle": _serialize_pickle,
    "pickle_base64": _serialize_pickle_base64,
}
_DESERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "json": _deserialize_json,
    "pickle": _deserialize_pickle,
    "pickle_base64": _deserialize_pickle_base64,
}


def _method(table: Mapping[str, Callable[[Any], Any]], method: object) -> Callable[[Any], Any]:
    function = table.get(method) if isinstance(method, str) else None
    if function is None:
        raise ValueError(
            f"método de serialización desconocido: {method!r} "
            "(usa 'json', 'pickle' o 'pickle_base64')"
        )
    return function


def serialize(data: Any, method: str = "json") -> str | bytes:
    """Serialise the caller's own I{data}.

    C{'json'} and C{'pickle_base64'} return C{str}; C{'pickle'} returns C{bytes}.
    Any other I{method} raises L{ValueError}.
    """
    return _method(_SERIALIZERS, method)(data)


def deserialize(text: str | bytes, method: str = "json") -> Any:
    """Inverse of L{serialize}.  Only for trusted input: pickles run code."""
    return _method(_DESERIALIZERS, method)(text)


def _int_fits_json(value: int) -> bool:
    """Whether C{str(value)} stays under the interpreter's integer-digit limit."""
    limit = sys.get_int_max_str_digits()
    # 2**b has at most floor(b * log10(2)) + 1 digits; 3.32 < log2(10) keeps this safe.
    return limit == 0 or value.bit_length() <= int((limit - 1) * 3.32)


def _is_json_safe(value: Any, active: set[int]) -> bool:
    """Whether I{value} survives a JSON round trip unchanged, type for type.

    Exact types only: C{bool}/C{int} subclasses such as C{IntEnum}, C{OrderedDict},
    tuples, sets and non-finite floats would come back as something else.  I{active}
    holds the ids of the containers being visited, to spot cycles.
    """
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return True
    if kind is int:
        return _int_fits_json(value)
    if kind is float:
        return math.isfinite(value)
    if kind is not list and kind is not dict:
        return False
    if id(value) in active:
        return False
    active.add(id(value))
    try:
        if kind is list:
            return all(_is_json_safe(item, active) for item in value)
        return all(type(key) is str and _is_json_safe(item, active) for key, item in value.items())
    finally:
        active.discard(id(value))


class Serializer:
    """The seed's class-based API.  Trusted data only, like L{deserialize}."""

    serialize_json = staticmethod(_serialize_json)
    deserialize_json = staticmethod(_deserialize_json)
    serialize_pickle = staticmethod(_serialize_pickle)
    deserialize_pickle = staticmethod(_deserialize_pickle)
    serialize_pickle_base64 = staticmethod(_serialize_pickle_base64)
    deserialize_pickle_base64 = staticmethod(_deserialize_pickle_base64)

    @staticmethod
    def serialize_hybrid(data: Any) -> str:
        """JSON when I{data} is JSON-safe, otherwise base64 pickle; the prefix says which.

        The result is C{"json:" + json} or C{"pickle:" + base64}.
        """
        try:
            json_safe = _is_json_safe(data, set())
        except RecursionError:
            json_safe = False
        if json_safe:
            return _HYBRID_JSON_PREFIX + json.dumps(data, ensure_ascii=False, allow_nan=False)
        return _HYBRID_PICKLE_PREFIX + _serialize_pickle_base64(data)

    @staticmethod
    def deserialize_hybrid(text: str) -> Any:
        """Inverse of L{serialize_hybrid}.  Only for trusted input: pickles run code."""
        if not isinstance(text, str):
            raise TypeError(f"hybrid data must be str, not {type(text).__name__}")
        if text.startswith(_HYBRID_JSON_PREFIX):
            return json.loads(text[len(_HYBRID_JSON_PREFIX) :])
        if text.startswith(_HYBRID_PICKLE_PREFIX):
            return _deserialize_pickle_base64(text[len(_HYBRID_PICKLE_PREFIX) :])
        raise ValueError("formato híbrido desconocido: se esperaba el prefijo 'json:' o 'pickle:'")


# ---------------------------------------------------------------------------
# Network path: signed, inspected, allow-listed pickles
# ---------------------------------------------------------------------------

SECRET_ENV_VAR = ENV_VAR
WIRE_PICKLE_PROTOCOL = 5

#: Longest base64 text L{decode_wire_pickle} will look at (3 MiB of pickle).
MAX_WIRE_PICKLE_CHARS = 4 * 1024 * 1024
#: Deepest container nesting accepted (hashing nested tuples recurses in C).
MAX_NESTING_DEPTH = 100
#: Cap on the size of the decoded value as a tree (shared references counted each
#: time they occur, strings by length) and on the hashing and construction work.
MAX_EXPANDED_WEIGHT = 16 * 1024 * 1024
#: Cap on the number of objects in the decoded value as a tree (shared ones counted
#: each time they occur).
MAX_VALUE_NODES = 500_000
#: Most dict keys and set members whose hash is not randomised (everything but C{str}
#: and C{bytes}) in one pickle: colliding keys make each insert scan the others.
MAX_COLLIDABLE_KEYS = 2_000
#: Largest integer (in bits) a pickle may pass to a constructor; C{Decimal(int)} is
#: quadratic in the number of digits.
MAX_CALL_INT_BITS = 1024


class PickleRefused(ValueError):
    """A pickle from a peer was refused; the message (Spanish) says why."""


class BadSignature(PickleRefused):
    """The pickle's signature is missing, malformed or wrong."""


class ForbiddenGlobal(PickleRefused):
    """The pickle names a global that is not on the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"el pickle usa un global no permitido: {module}.{name}")
        self.module = module
        self.name = name

    def __reduce__(self) -> tuple[type[ForbiddenGlobal], tuple[str, str]]:
        return (type(self), (self.module, self.name))


def _key(cls: type) -> tuple[str, str]:
    return (cls.__module__, cls.__qualname__)


# Globals a pickle may name but never call: type objects as values.  (The stream
# encodes instances of these with dedicated opcodes, not by calling them; calling
# str/bytes/bytearray would allow memory amplification.)
_VALUE_GLOBALS: dict[tuple[str, str], object] = {
    ("builtins", name): getattr(builtins, name)
    for name in (
        "dict",
        "list",
        "set",
        "frozenset",
        "tuple",
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "bytearray",
    )
}
# Globals a pickle may call: value types whose constructors take scalars.
_CONSTRUCTOR_GLOBALS: dict[tuple[str, str], object] = {
    _key(cls): cls
    for cls in (
        complex,
        datetime.datetime,
        datetime.date,
        datetime.time,
        datetime.timedelta,
        datetime.timezone,
        decimal.Decimal,
        uuid.UUID,
        collections.OrderedDict,
    )
}
_STATIC_GLOBALS = {**_VALUE_GLOBALS, **_CONSTRUCTOR_GLOBALS}

_registered_classes: dict[tuple[str, str], type] = {}


def allow_class(cls: type) -> type:
    """Let wire pickles carry instances of I{cls}; returns I{cls} (usable as a decorator).

    Meant for plain data classes such as frozen C{attrs} classes.  A peer can then
    call the class with scalar arguments and hand a fresh instance's C{__setstate__}
    any allowed value, so do not register classes whose construction has side effects.
    """
    if not isinstance(cls, type):
        raise TypeError(f"allow_class() expects a class, got {cls!r}")
    key = _key(cls)
    if key in _STATIC_GLOBALS:
        raise ValueError(f"{key[0]}.{key[1]} is already governed by the built-in allow-list")
    _registered_classes[key] = cls
    return cls


def _model_classes() -> dict[tuple[str, str], type]:
    """The classes named in C{juego.model.__all__} (none while that module is absent)."""
    try:
        model = importlib.import_module("juego.model")
    except ModuleNotFoundError as exc:
        if exc.name == "juego.model":
            return {}
        raise
    classes = {}
    for name in getattr(model, "__all__", ()):
        obj = getattr(model, name, None)
        # Only classes defined in juego.model: a re-exported stdlib class must not
        # become constructible by accident.
        if isinstance(obj, type) and (
            obj.__module__ == "juego.model" or obj.__module__.startswith("juego.model.")
        ):
            classes[_key(obj)] = obj
    return classes


class _AllowList(NamedTuple):
    objects: Mapping[tuple[str, str], object]  # every global a pickle may name
    constructible: frozenset[tuple[str, str]]  # ... may call (REDUCE, NEWOBJ, INST, OBJ)
    buildable: frozenset[tuple[str, str]]  # ... whose fresh instances may take BUILD


def _current_allow_list() -> _AllowList:
    classes = {**_model_classes(), **_registered_classes}
    objects = {**classes, **_STATIC_GLOBALS}
    constructible = frozenset(_CONSTRUCTOR_GLOBALS) | frozenset(classes)
    # Enum "constructors" return existing module-level members: BUILD on one would
    # rewrite a process-wide singleton.
    buildable = frozenset(key for key, cls in classes.items() if not issubclass(cls, enum.Enum)) | {
        _key(uuid.UUID)
    }
    return _AllowList(objects, constructible, buildable)


def _refuse(reason: str) -> PickleRefused:
    return PickleRefused(f"pickle rechazado: {reason}")


def _forbidden(opcode: str) -> Callable[[Any], None]:
    def load(self: Any) -> None:
        raise _refuse(f"opcode no permitido ({opcode})")

    return load


#: What a dict key or set member may be: values whose hash is flat (no container is
#: hashed while loading, so nothing deep or shared is).
_FLAT = frozenset(
    {
        str,
        bytes,
        int,
        float,
        bool,
        type(None),
        complex,
        datetime.datetime,
        datetime.date,
        datetime.time,
        datetime.timedelta,
        decimal.Decimal,
        uuid.UUID,
    }
)
#: Keys whose hash is not randomised (everything but C{str} and C{bytes}).
_RANDOMISED = frozenset({str, bytes})


#: Python's pure-Python unpickler (C{pickle.Unpickler} is the C one): each step can be checked.
_PythonUnpickler: Any = pickle._Unpickler


class SafeUnpickler(_PythonUnpickler):
    """
    Loads a pickle from a peer. Python's own unpickler (the pure-Python one, so that each
    step can be checked), limited to:

      - globals from the allow-list (L{ForbiddenGlobal} for any other);
      - the opcodes L{encode_wire_pickle} emits (no persistent ids, extension codes or
        out-of-band buffers), and no length is trusted before its bytes are there;
      - calls of the allowed constructors only, with simple arguments (no containers,
        integers of at most L{MAX_CALL_INT_BITS} bits);
      - C{BUILD} only on instances of data classes (never a class, never an enum member);
      - dict keys and set members of flat types only (hashing while loading never
        recurses or explodes), at most L{MAX_COLLIDABLE_KEYS} of them with a
        predictable hash (tuples of flat values as keys too);
      - at most L{MAX_NESTING_DEPTH} open MARKs.

    The loaded value's own shape (depth, size with shared parts counted each time) is
    checked by L{decode_wire_pickle} after loading.
    """

    dispatch: dict[int, Callable[[Any], None]] = dict(_PythonUnpickler.dispatch)
    for _name in (
        "PERSID",
        "BINPERSID",
        "EXT1",
        "EXT2",
        "EXT4",
        "NEWOBJ_EX",
        "NEXT_BUFFER",
        "READONLY_BUFFER",
    ):
        dispatch[getattr(pickle, _name)[0]] = _forbidden(_name)
    del _name

    def __init__(self, file: Any, *, allow_list: _AllowList | None = None) -> None:
        super().__init__(file)
        self._allow_list = allow_list if allow_list is not None else _current_allow_list()
        self._collidable = 0

    def find_class(self, module: str, name: str) -> Any:
        sys.audit("pickle.find_class", module, name)
        obj = self._allow_list.objects.get((module, name))
        if obj is None:
            raise ForbiddenGlobal(module, name)
        return obj

    # calls

    def _checkCall(self, func: object, args: Any) -> None:
        key = _key(func) if isinstance(func, type) else None
        if key is None or key not in self._allow_list.constructible:
            what = ".".join(key) if key else type(func).__name__
            raise _refuse(f"no se permite construir {what}")
        for arg in args:
            if type(arg) in (list, dict, set, frozenset, tuple, collections.OrderedDict):
                raise _refuse("los constructores solo admiten argumentos simples")
            if type(arg) is int and arg.bit_length() > MAX_CALL_INT_BITS:
                raise _refuse("entero demasiado grande como argumento")

    def load_reduce(self) -> None:
        self._checkCall(self.stack[-2], self.stack[-1])
        super().load_reduce()

    def load_newobj(self) -> None:
        self._checkCall(self.stack[-2], self.stack[-1])
        super().load_newobj()

    def _instantiate(self, klass: Any, args: list[Any]) -> None:  # INST and OBJ
        self._checkCall(klass, args)
        super()._instantiate(klass, args)

    def load_build(self) -> None:
        target = self.stack[-2]
        if isinstance(target, type) or _key(type(target)) not in self._allow_list.buildable:
            raise _refuse("BUILD solo se admite sobre instancias de clases de datos")
        super().load_build()

    # hashing

    def _checkKeys(self, keys: Any) -> None:
        for key in keys:
            kind = type(key)
            if kind in (tuple, frozenset):  # one level: ("par", 1)
                if not all(type(part) in _FLAT for part in key):
                    raise _refuse("claves compuestas de más de un nivel")
            elif kind not in _FLAT:
                raise _refuse(f"claves de tipo no admitido ({kind.__name__})")
            if kind not in _RANDOMISED:
                self._collidable += 1
        if self._collidable > MAX_COLLIDABLE_KEYS:
            raise _refuse("demasiadas claves con hash predecible")

    def load_dict(self) -> None:
        self._checkKeys(self.stack[::2])
        super().load_dict()

    def load_setitem(self) -> None:
        self._checkKeys(self.stack[-2:-1])
        super().load_setitem()

    def load_setitems(self) -> None:
        self._checkKeys(self.stack[::2])
        super().load_setitems()

    def load_additems(self) -> None:
        self._checkKeys(self.stack)
        super().load_additems()

    def load_frozenset(self) -> None:
        self._checkKeys(self.stack)
        super().load_frozenset()

    def load_bytearray8(self) -> None:
        # Python's own allocates the announced length first (2**40 bytes, say).
        (size,) = struct.unpack("<Q", self.read(8))
        data = self.read(size)
        if len(data) != size:
            raise _refuse("datos truncados")
        self.append(bytearray(data))

    def load_mark(self) -> None:
        if len(self.metastack) >= MAX_NESTING_DEPTH:
            raise _refuse("anidamiento demasiado profundo")
        super().load_mark()

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.ADDITEMS[0]] = load_additems
    dispatch[pickle.FROZENSET[0]] = load_frozenset
    dispatch[pickle.MARK[0]] = load_mark
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _checkShape(value: object) -> None:
    """
    Refuse a loaded value nested deeper than L{MAX_NESTING_DEPTH} (its users recurse:
    comparing, hashing, encoding) or larger, as a tree, than L{MAX_VALUE_NODES} objects
    or L{MAX_EXPANDED_WEIGHT} (strings by length): shared parts count each time they
    occur, since a small pickle can name a tree with 2**40 leaves.
    """
    nodes = weight = 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_NESTING_DEPTH:
            raise _refuse(f"anidamiento de más de {MAX_NESTING_DEPTH} niveles")
        nodes += 1
        weight += len(item) if isinstance(item, str | bytes) else 1
        if nodes > MAX_VALUE_NODES or weight > MAX_EXPANDED_WEIGHT:
            raise _refuse("el valor se expande demasiado")
        for child in _children(item):
            pending.append((child, depth + 1))


def _children(item: object) -> Any:
    if isinstance(item, dict):
        return itertools.chain.from_iterable(item.items())
    if isinstance(item, list | tuple | set | frozenset):
        return item
    if isinstance(item, str | bytes | int | float | complex | type(None)):
        return ()
    state = getattr(item, "__dict__", None)
    values = list(state.values()) if isinstance(state, dict) else []
    for cls in type(item).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if slot not in ("__dict__", "__weakref__") and hasattr(item, slot):
                values.append(getattr(item, slot))
    return values


# -- signing and the public entry points --------------------------------------


def _check_secret(secret: bytes | None) -> None:
    if secret is None:
        return
    if not isinstance(secret, bytes):
        raise TypeError(f"secret must be bytes or None, not {type(secret).__name__}")
    if not secret:
        raise ValueError("an empty secret would let anyone forge signatures")


def _sign(raw: bytes, secret: bytes) -> str:
    return hmac.new(secret, raw, hashlib.sha256).hexdigest()


def encode_wire_pickle(obj: Any, secret: bytes | None) -> tuple[str, str | None]:
    """Pickle I{obj} for a peer: C{(base64 text, hex HMAC-SHA256 or None)}.

    The pickle uses protocol 5; the signature covers the raw pickle bytes and is
    C{None} when I{secret} is C{None}.  The peer accepts only allow-listed values.
    """
    _check_secret(secret)
    raw = pickle.dumps(obj, protocol=WIRE_PICKLE_PROTOCOL)
    data = base64.b64encode(raw).decode("ascii")
    return data, (None if secret is None else _sign(raw, secret))


def decode_wire_pickle(
    data: str,
    sig: str | None,
    secret: bytes | None,
    *,
    require_signature: bool = False,
) -> object:
    """Load a pickle received from a peer, or raise L{PickleRefused}.

    With a I{secret}, I{sig} must be its HMAC-SHA256 of the raw bytes
    (L{BadSignature} otherwise, before anything is unpickled).  Without one,
    C{require_signature=True} refuses everything with L{BadSignature}.
    The bytes are then inspected and loaded through L{SafeUnpickler}.
    """
    _check_secret(secret)
    if not isinstance(data, str):
        raise PickleRefused("el pickle debe llegar como texto base64")
    if len(data) > MAX_WIRE_PICKLE_CHARS:
        raise PickleRefused(
            f"pickle demasiado grande ({len(data)} caracteres; máximo {MAX_WIRE_PICKLE_CHARS})"
        )
    if secret is None:
        if require_signature:
            raise BadSignature(
                "no hay secreto compartido: no se puede verificar la firma del pickle"
            )
    elif sig is None:
        raise BadSignature("falta la firma del pickle")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise PickleRefused("el pickle no es base64 válido") from exc
    if secret is not None:
        _verify(raw, sig, secret)
    return _load(raw)


def _verify(raw: bytes, sig: object, secret: bytes) -> None:
    if not isinstance(sig, str):
        raise BadSignature("la firma del pickle debe ser texto hexadecimal")
    try:
        given = sig.encode("ascii")
    except UnicodeEncodeError:
        raise BadSignature("firma del pickle inválida") from None
    if not hmac.compare_digest(_sign(raw, secret).encode("ascii"), given):
        raise BadSignature("firma del pickle inválida")


def _load(raw: bytes) -> object:
    stream = io.BytesIO(raw)
    try:
        value = SafeUnpickler(stream).load()
    except PickleRefused:
        raise
    except Exception as exc:  # also RecursionError, MemoryError, SystemError
        detail = str(exc)[:200]
        raise PickleRefused(f"pickle inválido ({type(exc).__name__}: {detail})") from exc
    if stream.read(1):
        raise _refuse("hay datos tras el final")
    _checkShape(value)
    return value


def secret_from_env() -> bytes | None:
    """
    The services' shared secret from C{JUEGO_SERVICE_SECRET} (UTF-8), or C{None}; read
    by L{juego.secret}, which also knows the install's generated secret.
    """
    return environmentSecret()
