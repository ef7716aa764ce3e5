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
3. I{Structural inspection}: the opcode stream is walked with L{pickletools},
   without executing it, and refused if it could crash or stall the process even with
   harmless globals: nesting deeper than L{MAX_NESTING_DEPTH} (hashing a deeply
   nested tuple overflows the C stack), shared references that expand beyond
   L{MAX_EXPANDED_WEIGHT} ("billion laughs" tuples that never finish hashing),
   too many keys with predictable hashes (hash flooding), calls to anything but a short
   list of value constructors, calls with compound or huge integer arguments, C{BUILD}
   on anything but a fresh instance of a data class, and exotic opcodes (persistent
   ids, extension codes, out-of-band buffers).
4. I{Allow-list}: L{SafeUnpickler} resolves globals only from a fixed table
   (a few builtins, L{datetime}, L{decimal.Decimal}, L{uuid.UUID},
   L{collections.OrderedDict}), the classes exported by C{juego.model} and
   classes registered with L{allow_class}.  Any other global raises
   L{ForbiddenGlobal} -- even in a correctly signed pickle.

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
import json
import math
import pickle
import pickletools
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from juego.secret import ENV_VAR, environmentSecret

__all__ = [
    "MAX_CALL_INT_BITS",
    "MAX_COLLIDABLE_KEY_WEIGHT",
    "MAX_EXPANDED_WEIGHT",
    "MAX_NESTING_DEPTH",
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
#: Cap on the total weight of hashed keys whose hash is not randomised (everything
#: but C{str} and C{bytes}); colliding keys make dict and set inserts quadratic.
MAX_COLLIDABLE_KEY_WEIGHT = 5_000
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
_ORDERED_DICT = _key(collections.OrderedDict)

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


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves globals from the allow-list only.

    It is the last layer of L{decode_wire_pickle}.  On its own it keeps a pickle from
    reaching any code outside the allow-list, but not from exhausting the stack, the
    memory or the CPU with allowed pieces: load peer data through that function.
    """

    def __init__(self, file: Any, *, allow_list: _AllowList | None = None, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._allow_list = allow_list if allow_list is not None else _current_allow_list()

    def find_class(self, module: str, name: str) -> Any:
        sys.audit("pickle.find_class", module, name)
        obj = self._allow_list.objects.get((module, name))
        if obj is None:
            raise ForbiddenGlobal(module, name)
        return obj


# -- structural inspection ---------------------------------------------------

_MARK = object()  # a MARK on the simulated stack

# Node kinds.
_SCALAR = "scalar"  # None, bool, float, byte strings of protocol 0-2, bytearray
_STR = "str"
_BYTES = "bytes"
_INT = "int"
_GLOBAL = "global"
_LIST = "list"
_DICT = "dict"
_SET = "set"
_TUPLE = "tuple"
_FROZENSET = "frozenset"
_OBJECT = "object"  # the result of calling an allowed class
_COMPOUND = frozenset({_LIST, _DICT, _SET, _TUPLE, _FROZENSET})
_RANDOMISED_HASH = frozenset({_STR, _BYTES})
_MAX_NAME_LENGTH = 256  # longer strings are never module or class names


class _Node:
    """What the inspector knows about one object the real unpickler would create.

    C{depth} and C{weight} bound the nesting and the tree size of the object;
    C{contained} is set once it is placed inside another object, after which it
    may not change (so the depth and weight of its containers stay exact).
    """

    __slots__ = ("kind", "depth", "weight", "value", "items", "contained", "fresh")

    def __init__(self, kind: str, depth: int = 0, weight: int = 1, value: Any = None) -> None:
        self.kind = kind
        self.depth = depth
        self.weight = weight
        self.value = value  # str value, int bit length, or (module, name)
        self.items: tuple[_Node, ...] = ()  # a tuple's items, for call arguments
        self.contained = False
        self.fresh = False  # made by NEWOBJ: a new instance that may take BUILD


def _refuse(reason: str) -> PickleRefused:
    return PickleRefused(f"pickle rechazado: {reason}")


class _PickleInspector:
    """Simulates the unpickler's stack and memo over the opcode stream, running nothing.

    Refuses (raises L{PickleRefused}) anything outside the shapes that
    L{encode_wire_pickle} produces for allowed values, and anything that would
    make loading or later use of the result blow the stack, the memory or the CPU.
    It is strict on purpose: where the stream is odd, it refuses rather than guess.
    """

    def __init__(self, raw: bytes, allow_list: _AllowList) -> None:
        self._raw = raw
        self._allow = allow_list
        self._stack: list[Any] = []
        self._memo: dict[int, _Node] = {}
        self._scalars: dict[tuple[str, int, Any], _Node] = {}
        self._work = 0
        self._collidable = 0

    def run(self) -> None:
        end = None
        for opcode, arg, pos in pickletools.genops(self._raw):
            handler = _HANDLERS.get(opcode.name)
            if handler is None:
                raise _refuse(f"opcode no permitido ({opcode.name})")
            handler(self, arg)
            if opcode.name == "STOP":
                end = -1 if pos is None else pos + 1
        if end is None:
            raise _refuse("falta el final (STOP)")
        if end != len(self._raw):
            raise _refuse("hay datos tras el final")

    # -- stack -------------------------------------------------------------

    def _pop(self) -> _Node:
        if not self._stack or self._stack[-1] is _MARK:
            raise _refuse("pila vacía")
        return self._stack.pop()

    def _top(self) -> _Node:
        if not self._stack or self._stack[-1] is _MARK:
            raise _refuse("pila vacía")
        return self._stack[-1]

    def _pop_to_mark(self) -> list[_Node]:
        stack = self._stack
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is _MARK:
                items = stack[index + 1 :]
                del stack[index:]
                return items
        raise _refuse("falta MARK")

    # -- accounting ----------------------------------------------------------

    def _check(self, node: _Node) -> None:
        if node.depth > MAX_NESTING_DEPTH:
            raise _refuse(f"anidamiento de más de {MAX_NESTING_DEPTH} niveles")
        if node.weight > MAX_EXPANDED_WEIGHT:
            raise _refuse("el valor se expande demasiado (referencias compartidas)")

    def _spend(self, weight: int) -> None:
        self._work += weight
        if self._work > MAX_EXPANDED_WEIGHT:
            raise _refuse("demasiado trabajo para reconstruir el valor")

    def _hash(self, keys: list[_Node]) -> None:
        for key in keys:
            self._spend(key.weight)
            if key.kind not in _RANDOMISED_HASH:
                self._collidable += key.weight
        if self._collidable > MAX_COLLIDABLE_KEY_WEIGHT:
            raise _refuse("demasiadas claves no textuales en diccionarios o conjuntos")

    # -- building nodes ------------------------------------------------------

    def _scalar(self, kind: str, weight: int, value: Any = None) -> None:
        # Scalars are immutable and have no items, so equal ones share a node.
        key = (kind, weight, value)
        node = self._scalars.get(key)
        if node is None:
            node = self._scalars[key] = _Node(kind, 0, weight, value)
        self._stack.append(node)

    def _new(self, kind: str, items: list[_Node] | tuple[_Node, ...] = ()) -> _Node:
        node = _Node(kind, 1, 1)
        self._add(node, items)
        return node

    def _add(self, target: _Node, items: list[_Node] | tuple[_Node, ...]) -> None:
        for item in items:
            target.depth = max(target.depth, item.depth + 1)
            target.weight += item.weight
            item.contained = True
        self._check(target)

    def _mutate(self, target: _Node, items: list[_Node], *kinds: str) -> None:
        if target.kind not in kinds and not (
            _DICT in kinds and target.kind == _OBJECT and target.value == _ORDERED_DICT
        ):
            raise _refuse(f"no se puede añadir elementos a un {target.kind}")
        if target.contained:
            raise _refuse("un objeto cambia después de estar contenido en otro")
        self._add(target, items)

    def _global(self, module: str, name: str) -> None:
        if (module, name) not in self._allow.objects:
            raise ForbiddenGlobal(module, name)
        self._stack.append(_Node(_GLOBAL, 0, 1, (module, name)))

    def _call(self, func: _Node, args: list[_Node] | tuple[_Node, ...], *, fresh: bool) -> None:
        if func.kind != _GLOBAL:
            raise _refuse("solo se pueden construir clases permitidas")
        if func.value not in self._allow.constructible:
            module, name = func.value
            raise _refuse(f"no se permite construir {module}.{name}")
        for arg in args:
            if arg.kind in _COMPOUND:
                raise _refuse("los constructores solo admiten argumentos simples")
            if arg.kind == _INT and arg.value > MAX_CALL_INT_BITS:
                raise _refuse("entero demasiado grande como argumento")
        node = self._new(_OBJECT, args)
        node.value = func.value
        node.fresh = fresh
        self._spend(node.weight)
        self._stack.append(node)

    def _args_tuple(self) -> tuple[_Node, ...]:
        args = self._pop()
        if args.kind != _TUPLE:
            raise _refuse("los argumentos de un constructor deben ser una tupla")
        return args.items

    # -- opcode handlers -----------------------------------------------------

    def op_int(self, arg: int) -> None:
        bits = int(arg).bit_length()
        self._scalar(_INT, 1 + bits // 64, bits)

    def op_str(self, arg: str) -> None:
        value = arg if len(arg) <= _MAX_NAME_LENGTH else None
        self._scalar(_STR, 1 + len(arg), value)

    def op_bytes(self, arg: bytes) -> None:
        self._scalar(_BYTES, 1 + len(arg))

    def op_sized_scalar(self, arg: Any) -> None:
        self._scalar(_SCALAR, 1 + len(arg))

    def op_scalar(self, arg: Any) -> None:
        self._scalar(_SCALAR, 1)

    def op_empty_list(self, arg: None) -> None:
        self._stack.append(self._new(_LIST))

    def op_empty_dict(self, arg: None) -> None:
        self._stack.append(self._new(_DICT))

    def op_empty_set(self, arg: None) -> None:
        self._stack.append(self._new(_SET))

    def op_empty_tuple(self, arg: None) -> None:
        self._stack.append(self._new(_TUPLE))

    def op_mark(self, arg: None) -> None:
        self._stack.append(_MARK)

    def _push_tuple(self, items: list[_Node]) -> None:
        node = self._new(_TUPLE, items)
        node.items = tuple(items)
        self._stack.append(node)

    def op_tuple(self, arg: None) -> None:
        self._push_tuple(self._pop_to_mark())

    def op_tuple1(self, arg: None) -> None:
        self._push_tuple([self._pop()])

    def op_tuple2(self, arg: None) -> None:
        second = self._pop()
        self._push_tuple([self._pop(), second])

    def op_tuple3(self, arg: None) -> None:
        third = self._pop()
        second = self._pop()
        self._push_tuple([self._pop(), second, third])

    def op_list(self, arg: None) -> None:
        self._stack.append(self._new(_LIST, self._pop_to_mark()))

    def op_dict(self, arg: None) -> None:
        items = self._pop_to_mark()
        if len(items) % 2:
            raise _refuse("diccionario con un número impar de elementos")
        self._hash(items[0::2])
        self._stack.append(self._new(_DICT, items))

    def op_frozenset(self, arg: None) -> None:
        items = self._pop_to_mark()
        self._hash(items)
        self._stack.append(self._new(_FROZENSET, items))

    def op_append(self, arg: None) -> None:
        item = self._pop()
        self._mutate(self._top(), [item], _LIST)

    def op_appends(self, arg: None) -> None:
        items = self._pop_to_mark()
        self._mutate(self._top(), items, _LIST)

    def op_setitem(self, arg: None) -> None:
        value = self._pop()
        key = self._pop()
        self._hash([key])
        self._mutate(self._top(), [key, value], _DICT)

    def op_setitems(self, arg: None) -> None:
        items = self._pop_to_mark()
        if len(items) % 2:
            raise _refuse("diccionario con un número impar de elementos")
        self._hash(items[0::2])
        self._mutate(self._top(), items, _DICT)

    def op_additems(self, arg: None) -> None:
        items = self._pop_to_mark()
        self._hash(items)
        self._mutate(self._top(), items, _SET)

    def op_pop(self, arg: None) -> None:
        if not self._stack:
            raise _refuse("pila vacía")
        self._stack.pop()

    def op_pop_mark(self, arg: None) -> None:
        self._pop_to_mark()

    def op_dup(self, arg: None) -> None:
        self._stack.append(self._top())

    def op_put(self, arg: int) -> None:
        self._memo[arg] = self._top()

    def op_memoize(self, arg: None) -> None:
        self._memo[len(self._memo)] = self._top()

    def op_get(self, arg: int) -> None:
        node = self._memo.get(arg)
        if node is None:
            raise _refuse("referencia a una memoria inexistente")
        self._stack.append(node)

    def op_global(self, arg: str) -> None:
        # pickletools reports GLOBAL's two lines as "module name"; names with spaces
        # split wrongly here and then fail the allow-list, which has none.
        module, _, name = arg.partition(" ")
        self._global(module, name)

    def op_stack_global(self, arg: None) -> None:
        name = self._pop()
        module = self._pop()
        if module.kind != _STR or name.kind != _STR or module.value is None or name.value is None:
            raise _refuse("STACK_GLOBAL sin nombres literales")
        self._global(module.value, name.value)

    def op_inst(self, arg: str) -> None:
        args = self._pop_to_mark()
        self.op_global(arg)
        self._call(self._pop(), args, fresh=False)

    def op_obj(self, arg: None) -> None:
        items = self._pop_to_mark()
        if not items:
            raise _refuse("OBJ sin clase")
        self._call(items[0], items[1:], fresh=False)

    def op_reduce(self, arg: None) -> None:
        args = self._args_tuple()
        self._call(self._pop(), args, fresh=False)

    def op_newobj(self, arg: None) -> None:
        args = self._args_tuple()
        self._call(self._pop(), args, fresh=True)

    def op_build(self, arg: None) -> None:
        state = self._pop()
        target = self._top()
        if not (target.kind == _OBJECT and target.fresh and target.value in self._allow.buildable):
            raise _refuse("BUILD solo se admite sobre instancias nuevas de clases de datos")
        if target.contained:
            raise _refuse("un objeto cambia después de estar contenido en otro")
        self._spend(state.weight)
        self._add(target, [state])

    def op_ignore(self, arg: Any) -> None:
        """PROTO and FRAME: nothing to simulate."""

    def op_stop(self, arg: None) -> None:
        self._top()


_HANDLERS: dict[str, Callable[[_PickleInspector, Any], None]] = {
    **dict.fromkeys(
        ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"),
        _PickleInspector.op_int,
    ),
    **dict.fromkeys(
        ("UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"), _PickleInspector.op_str
    ),
    **dict.fromkeys(("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"), _PickleInspector.op_bytes),
    **dict.fromkeys(
        ("STRING", "BINSTRING", "SHORT_BINSTRING", "BYTEARRAY8"),
        _PickleInspector.op_sized_scalar,
    ),
    **dict.fromkeys(
        ("NONE", "NEWTRUE", "NEWFALSE", "FLOAT", "BINFLOAT"), _PickleInspector.op_scalar
    ),
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT"), _PickleInspector.op_put),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _PickleInspector.op_get),
    **dict.fromkeys(("PROTO", "FRAME"), _PickleInspector.op_ignore),
    "EMPTY_LIST": _PickleInspector.op_empty_list,
    "EMPTY_DICT": _PickleInspector.op_empty_dict,
    "EMPTY_SET": _PickleInspector.op_empty_set,
    "EMPTY_TUPLE": _PickleInspector.op_empty_tuple,
    "MARK": _PickleInspector.op_mark,
    "TUPLE": _PickleInspector.op_tuple,
    "TUPLE1": _PickleInspector.op_tuple1,
    "TUPLE2": _PickleInspector.op_tuple2,
    "TUPLE3": _PickleInspector.op_tuple3,
    "LIST": _PickleInspector.op_list,
    "DICT": _PickleInspector.op_dict,
    "FROZENSET": _PickleInspector.op_frozenset,
    "APPEND": _PickleInspector.op_append,
    "APPENDS": _PickleInspector.op_appends,
    "SETITEM": _PickleInspector.op_setitem,
    "SETITEMS": _PickleInspector.op_setitems,
    "ADDITEMS": _PickleInspector.op_additems,
    "POP": _PickleInspector.op_pop,
    "POP_MARK": _PickleInspector.op_pop_mark,
    "DUP": _PickleInspector.op_dup,
    "MEMOIZE": _PickleInspector.op_memoize,
    "GLOBAL": _PickleInspector.op_global,
    "STACK_GLOBAL": _PickleInspector.op_stack_global,
    "INST": _PickleInspector.op_inst,
    "OBJ": _PickleInspector.op_obj,
    "REDUCE": _PickleInspector.op_reduce,
    "NEWOBJ": _PickleInspector.op_newobj,
    "BUILD": _PickleInspector.op_build,
    "STOP": _PickleInspector.op_stop,
    # Deliberately absent, hence refused: PERSID, BINPERSID, EXT1, EXT2, EXT4,
    # NEWOBJ_EX, NEXT_BUFFER, READONLY_BUFFER.
}


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
    return _load_inspected(raw)


def _verify(raw: bytes, sig: object, secret: bytes) -> None:
    if not isinstance(sig, str):
        raise BadSignature("la firma del pickle debe ser texto hexadecimal")
    try:
        given = sig.encode("ascii")
    except UnicodeEncodeError:
        raise BadSignature("firma del pickle inválida") from None
    if not hmac.compare_digest(_sign(raw, secret).encode("ascii"), given):
        raise BadSignature("firma del pickle inválida")


def _load_inspected(raw: bytes) -> object:
    allow_list = _current_allow_list()
    try:
        _PickleInspector(raw, allow_list).run()
        return SafeUnpickler(io.BytesIO(raw), allow_list=allow_list).load()
    except PickleRefused:
        raise
    except Exception as exc:
        detail = str(exc)[:200]
        raise PickleRefused(f"pickle inválido ({type(exc).__name__}: {detail})") from exc


def secret_from_env() -> bytes | None:
    """
    The services' shared secret from C{JUEGO_SERVICE_SECRET} (UTF-8), or C{None}; read
    by L{juego.secret}, which also knows the install's generated secret.
    """
    return environmentSecret()
