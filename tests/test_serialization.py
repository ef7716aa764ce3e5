"""
L{juego.serialization}: the trusted API (json / pickle / hybrid) and the network path
(signed, inspected, allow-listed pickles), including hostile pickles that must never run.
"""

from __future__ import annotations

import base64
import builtins
import collections
import decimal
import enum
import hashlib
import hmac
import io
import json
import math
import os
import pickle
import shlex
import struct
import subprocess
import sys
import time
import types
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any
from unittest import mock

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from juego import serialization
from juego.serialization import (
    BadSignature,
    ForbiddenGlobal,
    PickleRefused,
    SafeUnpickler,
    Serializer,
    allow_class,
    decode_wire_pickle,
    deserialize,
    encode_wire_pickle,
    secret_from_env,
    serialize,
)

SECRET = b"secreto-de-pruebas"
OTHER_SECRET = b"otro-secreto"


# -- classes the tests pickle ----------------------------------------------------------


class MiObjeto:
    """The seed's example of a "complex object"."""

    def __init__(self, x: Any, y: Any) -> None:
        self.x = x
        self.y = y


@allow_class
@attrs.frozen
class NotificacionPrueba:
    """Shaped like C{juego.model.Notification}: frozen, slotted, holds a datetime."""

    id: int
    user_id: int
    message: str
    type: str
    timestamp: datetime
    leida: bool = False


@attrs.frozen
class NoRegistrada:
    """A harmless data class that nobody put on the allow-list."""

    valor: int


@allow_class
class ColorPrueba(enum.Enum):
    ROJO = 1
    VERDE = 2


class _Sentinel:
    """Counts calls; a hostile pickle that reached it would show up here."""

    calls = 0

    @classmethod
    def hit(cls) -> None:
        cls.calls += 1


def _sentinel_hit() -> None:
    _Sentinel.hit()


class _Payload:
    """Pickles as C{callable(*args)}: the classic remote-code-execution gadget."""

    def __init__(self, function: Any, args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args

    def __call__(self) -> None:  # lets a payload itself be the callable of another
        raise AssertionError("never called while pickling")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (self.function, self.args)


# -- helpers ------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _sign(raw: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, raw, hashlib.sha256).hexdigest()


def _ustr(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    encoded = text.encode("utf-8")
    return b"\x8c" + bytes([len(encoded)]) + encoded


def _line(text: str) -> bytes:
    """A protocol-0 UNICODE argument line."""
    return text.encode("raw_unicode_escape") + b"\n"


def _same(a: Any, b: Any) -> bool:
    """Equality that also demands equal types, recursively (so (1,) is not [1])."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return [(type(k), k) for k in a] == [(type(k), k) for k in b] and all(
            _same(a[k], b[k]) for k in a
        )
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, complex):
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if isinstance(a, (datetime, dtime)):
        return a == b and a.utcoffset() == b.utcoffset() and a.fold == b.fold
    return bool(a == b)


def _notification(n: int = 1) -> NotificacionPrueba:
    return NotificacionPrueba(
        id=n,
        user_id=7,
        message="¡Nuevo récord personal: 120 puntos!",
        type="success",
        timestamp=datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC),
    )


# -- strategies ---------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
_offsets = st.just(UTC) | st.integers(min_value=-1439, max_value=1439).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_hashable_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.binary(max_size=10)
    | st.datetimes(timezones=st.none() | _offsets)
    | st.dates()
    | st.decimals(allow_nan=False)
)
_python_scalars = (
    _hashable_scalars
    | st.floats()
    | st.timedeltas()
    | st.times(timezones=st.none() | _offsets)
    | st.complex_numbers(allow_nan=False)
    | st.builds(bytearray, st.binary(max_size=10))
)
_python_values = st.recursive(
    _python_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4)
        | st.sets(_hashable_scalars, max_size=4)
        | st.frozensets(_hashable_scalars, max_size=4)
    ),
    max_leaves=20,
)
_wire_scalars = (
    _python_scalars
    | st.uuids()
    | st.sampled_from(ColorPrueba)
    | st.builds(
        NotificacionPrueba,
        id=st.integers(min_value=1, max_value=2**31),
        user_id=st.integers(min_value=1, max_value=2**31),
        message=st.text(max_size=40),
        type=st.sampled_from(["info", "success", "warning", "error"]),
        timestamp=st.datetimes(timezones=st.just(UTC)),
        leida=st.booleans(),
    )
)
_wire_values = st.recursive(
    _wire_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4).map(collections.OrderedDict)
        | st.sets(_hashable_scalars, max_size=4)
        | st.frozensets(_hashable_scalars, max_size=4)
    ),
    max_leaves=20,
)


# -- the trusted API -----------------------------------------------------------------------


class TrustedAPITests(SynchronousTestCase):
    """C{serialize}, C{deserialize} and C{Serializer}: the seed's API for one's own data."""

    def test_json_keeps_non_ascii(self) -> None:
        text = serialize({"nombre": "Ñandú", "saludo": "¡Hola!"}, method="json")
        self.assertIsInstance(text, str)
        self.assertIn("Ñandú", text)
        self.assertNotIn("\\u", text)
        self.assertEqual(deserialize(text, method="json"), {"nombre": "Ñandú", "saludo": "¡Hola!"})

    def test_json_is_the_default_method(self) -> None:
        self.assertEqual(serialize([1, "dos"]), '[1, "dos"]')
        self.assertEqual(deserialize('[1, "dos"]'), [1, "dos"])

    def test_pickle_returns_bytes_and_keeps_any_class(self) -> None:
        data = serialize(MiObjeto(1, 2), method="pickle")
        self.assertIsInstance(data, bytes)
        obj = deserialize(data, method="pickle")
        self.assertIsInstance(obj, MiObjeto)
        self.assertEqual((obj.x, obj.y), (1, 2))

    def test_pickle_base64_is_ascii_text(self) -> None:
        """The seed's C{MiObjeto} example, verbatim in spirit."""
        pickled = serialize(MiObjeto(1, 2), method="pickle_base64")
        assert isinstance(pickled, str)
        pickled.encode("ascii")
        obj = deserialize(pickled, method="pickle_base64")
        self.assertIsInstance(obj, MiObjeto)
        self.assertEqual((obj.x, obj.y), (1, 2))

    def test_unknown_method_raises_value_error(self) -> None:
        for method in ("xml", "hybrid", "", None, 3):
            self.assertRaises(ValueError, serialize, {"a": 1}, method=method)
            self.assertRaises(ValueError, deserialize, "{}", method=method)

    def test_serializer_static_methods(self) -> None:
        value = {"a": [1, 2.5, None, True], "ñ": "ü"}
        text = Serializer.serialize_json(value)
        self.assertIn("ñ", text)
        self.assertEqual(Serializer.deserialize_json(text), value)
        obj = Serializer.deserialize_pickle(Serializer.serialize_pickle(MiObjeto("a", [1])))
        self.assertEqual((obj.x, obj.y), ("a", [1]))
        b64 = Serializer.serialize_pickle_base64(MiObjeto(3, 4))
        self.assertIsInstance(b64, str)
        obj = Serializer.deserialize_pickle_base64(b64)
        self.assertEqual((obj.x, obj.y), (3, 4))

    def test_hybrid_uses_json_for_json_values(self) -> None:
        value = {"nombre": "Ana", "puntos": [1, 2, 3], "media": 2.5, "activo": True, "x": None}
        text = Serializer.serialize_hybrid(value)
        self.assertTrue(text.startswith("json:"), text)
        self.assertEqual(json.loads(text[len("json:") :]), value)
        self.assertTrue(_same(Serializer.deserialize_hybrid(text), value))

    def test_hybrid_json_keeps_non_ascii(self) -> None:
        text = Serializer.serialize_hybrid({"mensaje": "¡Nuevo récord!"})
        self.assertIn("¡Nuevo récord!", text)

    def test_hybrid_uses_pickle_for_the_rest(self) -> None:
        stamp = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        values = [
            (1, 2),
            {1, 2, 3},
            frozenset({"a"}),
            stamp,
            {"cuando": stamp},
            {"par": (1, 2)},
            {1: "clave entera"},
            [1, {2, 3}],
            float("inf"),
            b"bytes",
            collections.OrderedDict(a=1),
            ColorPrueba.ROJO,
            10**5000,
        ]
        for value in values:
            text = Serializer.serialize_hybrid(value)
            self.assertTrue(text.startswith("pickle:"), (value, text[:40]))
            self.assertTrue(_same(Serializer.deserialize_hybrid(text), value), value)

    def test_hybrid_round_trips_nan(self) -> None:
        text = Serializer.serialize_hybrid([float("nan")])
        self.assertTrue(text.startswith("pickle:"))
        self.assertTrue(math.isnan(Serializer.deserialize_hybrid(text)[0]))

    def test_hybrid_round_trips_user_objects(self) -> None:
        text = Serializer.serialize_hybrid({"obj": MiObjeto(1, datetime(2020, 2, 2))})
        self.assertTrue(text.startswith("pickle:"))
        obj = Serializer.deserialize_hybrid(text)["obj"]
        self.assertIsInstance(obj, MiObjeto)
        self.assertEqual((obj.x, obj.y), (1, datetime(2020, 2, 2)))

    def test_hybrid_handles_cycles(self) -> None:
        cycle: list[Any] = [1]
        cycle.append(cycle)
        text = Serializer.serialize_hybrid(cycle)
        self.assertTrue(text.startswith("pickle:"))
        back = Serializer.deserialize_hybrid(text)
        self.assertIs(back[1], back)

    def test_hybrid_refuses_unknown_prefix(self) -> None:
        self.assertRaises(ValueError, Serializer.deserialize_hybrid, '{"a": 1}')
        self.assertRaises(ValueError, Serializer.deserialize_hybrid, "xml:<a/>")
        self.assertRaises(TypeError, Serializer.deserialize_hybrid, b"json:1")

    @given(_json_values)
    def test_json_round_trip(self, value: Any) -> None:
        self.assertTrue(_same(deserialize(serialize(value)), value))

    @given(_json_values)
    def test_hybrid_json_values_round_trip_as_json(self, value: Any) -> None:
        text = Serializer.serialize_hybrid(value)
        self.assertTrue(text.startswith("json:"), text)
        self.assertTrue(_same(Serializer.deserialize_hybrid(text), value))

    @given(_python_values)
    def test_hybrid_round_trip_keeps_types(self, value: Any) -> None:
        """Strict types: a tuple or set sent as JSON would come back as a list and fail."""
        text = Serializer.serialize_hybrid(value)
        self.assertTrue(text.startswith(("json:", "pickle:")))
        self.assertTrue(_same(Serializer.deserialize_hybrid(text), value))

    @given(_python_values)
    def test_pickle_base64_round_trip(self, value: Any) -> None:
        text = serialize(value, method="pickle_base64")
        self.assertTrue(_same(deserialize(text, method="pickle_base64"), value))


# -- the network path: signing ---------------------------------------------------------


class WireSignatureTests(SynchronousTestCase):
    """Signatures are checked before anything is unpickled."""

    def setUp(self) -> None:
        self.made: list[object] = []
        made = self.made

        class CountingUnpickler(SafeUnpickler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                made.append(self)
                super().__init__(*args, **kwargs)

        self.patch(serialization, "SafeUnpickler", CountingUnpickler)

    def test_encode_format(self) -> None:
        value = {"a": 1}
        data, sig = encode_wire_pickle(value, SECRET)
        raw = base64.b64decode(data, validate=True)
        self.assertEqual(raw[:2], b"\x80\x05")  # protocol 5
        self.assertEqual(pickle.loads(raw), value)
        self.assertEqual(sig, _sign(raw))
        assert sig is not None
        self.assertEqual(len(sig), 64)
        data2, sig2 = encode_wire_pickle(value, None)
        self.assertEqual(data2, data)
        self.assertIsNone(sig2)

    def test_signed_round_trip(self) -> None:
        data, sig = encode_wire_pickle({"puntaje": 120}, SECRET)
        self.assertEqual(decode_wire_pickle(data, sig, SECRET), {"puntaje": 120})
        self.assertEqual(len(self.made), 1)

    def test_unsigned_round_trip_without_secret(self) -> None:
        data, sig = encode_wire_pickle([1, (2, 3)], None)
        self.assertEqual(decode_wire_pickle(data, None, None), [1, (2, 3)])

    def test_signature_ignored_without_secret(self) -> None:
        data, sig = encode_wire_pickle([1], SECRET)
        self.assertEqual(decode_wire_pickle(data, "basura", None), [1])

    def test_require_signature_without_secret(self) -> None:
        data, sig = encode_wire_pickle({"a": 1}, SECRET)
        exc = self.assertRaises(
            BadSignature, decode_wire_pickle, data, sig, None, require_signature=True
        )
        self.assertIn("no hay secreto compartido", str(exc))
        self.assertEqual(self.made, [])

    def test_tampered_data_with_old_signature(self) -> None:
        raw = pickle.dumps({"puntaje": 10}, protocol=5)
        sig = _sign(raw)
        tampered = raw.replace(b"K\n", b"K\x63")  # BININT1 10 -> 99
        self.assertNotEqual(tampered, raw)
        self.assertEqual(pickle.loads(tampered), {"puntaje": 99})
        self.assertRaises(BadSignature, decode_wire_pickle, _b64(tampered), sig, SECRET)
        self.assertEqual(self.made, [])

    def test_tampered_hostile_data_is_a_bad_signature(self) -> None:
        """Not a ForbiddenGlobal: the bytes are refused before they are looked at."""
        data, sig = encode_wire_pickle({"a": 1}, SECRET)
        hostile = pickle.dumps(_Payload(_sentinel_hit, ()), protocol=5)
        self.assertRaises(BadSignature, decode_wire_pickle, _b64(hostile), sig, SECRET)
        self.assertEqual(self.made, [])
        self.assertEqual(_Sentinel.calls, 0)

    def test_signature_under_another_secret(self) -> None:
        data, sig = encode_wire_pickle({"a": 1}, OTHER_SECRET)
        self.assertRaises(BadSignature, decode_wire_pickle, data, sig, SECRET)
        self.assertEqual(self.made, [])

    def test_unsigned_data_when_receiver_has_secret(self) -> None:
        data, sig = encode_wire_pickle({"a": 1}, None)
        self.assertIsNone(sig)
        exc = self.assertRaises(BadSignature, decode_wire_pickle, data, None, SECRET)
        self.assertIn("falta la firma", str(exc))
        self.assertEqual(self.made, [])

    def test_malformed_signatures(self) -> None:
        data, sig = encode_wire_pickle({"a": 1}, SECRET)
        assert sig is not None
        for bad in ("", sig[:-1], sig + "0", "é" * 64, sig.upper(), 12345, b"ab", ["x"]):
            self.assertRaises(BadSignature, decode_wire_pickle, data, bad, SECRET)
        self.assertEqual(self.made, [])

    def test_bad_base64(self) -> None:
        for data in ("%%%", "abc", "ñandú==", "QUJD\nREVG"):
            exc = self.assertRaises(PickleRefused, decode_wire_pickle, data, "00", SECRET)
            self.assertNotIsInstance(exc, BadSignature)
            self.assertRaises(PickleRefused, decode_wire_pickle, data, None, None)
        self.assertEqual(self.made, [])

    def test_data_must_be_text(self) -> None:
        data, sig = encode_wire_pickle({"a": 1}, None)
        for bad in (data.encode("ascii"), None, 5, ["a"]):
            self.assertRaises(PickleRefused, decode_wire_pickle, bad, None, None)

    def test_size_cap(self) -> None:
        big = "A" * (serialization.MAX_WIRE_PICKLE_CHARS + 4)
        decoded: list[object] = []
        self.patch(serialization.base64, "b64decode", lambda *a, **k: decoded.append(a))
        exc = self.assertRaises(PickleRefused, decode_wire_pickle, big, None, None)
        self.assertIn("demasiado grande", str(exc))
        self.assertEqual(decoded, [])

    def test_empty_or_mistyped_secret(self) -> None:
        data, sig = encode_wire_pickle({"a": 1}, SECRET)
        self.assertRaises(ValueError, encode_wire_pickle, {"a": 1}, b"")
        self.assertRaises(ValueError, decode_wire_pickle, data, sig, b"")
        self.assertRaises(TypeError, encode_wire_pickle, {"a": 1}, "texto")
        self.assertRaises(TypeError, decode_wire_pickle, data, sig, "texto")

    def test_exception_hierarchy(self) -> None:
        self.assertTrue(issubclass(PickleRefused, ValueError))
        self.assertTrue(issubclass(BadSignature, PickleRefused))
        self.assertTrue(issubclass(ForbiddenGlobal, PickleRefused))
        exc = pickle.loads(pickle.dumps(ForbiddenGlobal("os", "system")))
        self.assertEqual((exc.module, exc.name), ("os", "system"))
        self.assertIn("os.system", str(exc))


class SecretFromEnvTests(SynchronousTestCase):
    def test_set(self) -> None:
        with mock.patch.dict(os.environ, {"JUEGO_SERVICE_SECRET": "contraseña"}):
            self.assertEqual(secret_from_env(), "contraseña".encode())

    def test_empty(self) -> None:
        with mock.patch.dict(os.environ, {"JUEGO_SERVICE_SECRET": ""}):
            self.assertIsNone(secret_from_env())

    def test_unset(self) -> None:
        with mock.patch.dict(os.environ):
            os.environ.pop("JUEGO_SERVICE_SECRET", None)
            self.assertIsNone(secret_from_env())


# -- the network path: legitimate values -------------------------------------------------


class WireRoundTripTests(SynchronousTestCase):
    def test_round_trip_of_allowed_values(self) -> None:
        stamp = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)
        value = {
            "cuando": stamp,
            "lista_fechas": [stamp, stamp + timedelta(days=1), datetime(2000, 1, 1)],
            "otra_zona": datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-3), "UY")),
            "dia": date(2024, 2, 29),
            "hora": dtime(23, 59, 1, tzinfo=UTC),
            "duracion": timedelta(hours=1, microseconds=5),
            "conjunto": {1, 2, 3},
            "congelado": frozenset({"a", "b"}),
            "vacio": set(),
            "tupla": (1, "dos", (3.0, None)),
            "decimal": decimal.Decimal("12.3400"),
            "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "ordenado": collections.OrderedDict([("z", 1), ("a", 2)]),
            "complejo": 1 + 2j,
            "bytes": b"\x00\xff",
            "bytearray": bytearray(b"abc"),
            "grande": 2**200,
            "infinito": float("-inf"),
            "notificacion": _notification(),
            "notificaciones": [_notification(1), _notification(2)],
            "color": ColorPrueba.VERDE,
            7: "clave entera",
            ("par", 1): "clave tupla",
        }
        data, sig = encode_wire_pickle(value, SECRET)
        back: Any = decode_wire_pickle(data, sig, SECRET, require_signature=True)
        self.assertTrue(_same(back, value))
        self.assertEqual(back["cuando"].tzinfo, UTC)
        self.assertIs(back["color"], ColorPrueba.VERDE)
        self.assertIsInstance(back["notificacion"], NotificacionPrueba)
        self.assertEqual(back["notificacion"], _notification())

    def test_encoder_needs_no_copyreg(self) -> None:
        """Every global a legitimate wire pickle names is on the fixed allow-list."""
        seen: list[tuple[str, str]] = []

        class Recording(SafeUnpickler):
            def find_class(self, module: str, name: str) -> Any:
                seen.append((module, name))
                return super().find_class(module, name)

        value = [
            datetime.now(UTC),
            date.today(),
            dtime(1, 2),
            timedelta(3),
            timezone(timedelta(hours=5), "X"),
            decimal.Decimal("1.5"),
            uuid.uuid4(),
            collections.OrderedDict(a=1),
            1j,
            {1},
            frozenset(),
            bytearray(b"x"),
            _notification(),
            ColorPrueba.ROJO,
        ]
        data, _ = encode_wire_pickle(value, None)
        back = Recording(io.BytesIO(base64.b64decode(data))).load()
        self.assertTrue(_same(back, value))
        modules = {module for module, name in seen}
        self.assertNotIn("copyreg", modules)
        self.assertLessEqual(
            modules, {"datetime", "decimal", "uuid", "collections", "builtins", __name__}
        )

    def test_model_classes_are_allowed(self) -> None:
        """Every class in C{juego.model.__all__} is on the allow-list."""
        try:
            from juego import model
        except ImportError:
            self.skipTest("juego.model does not exist yet")
        allowed = serialization._current_allow_list()
        classes = [
            getattr(model, name) for name in model.__all__ if isinstance(getattr(model, name), type)
        ]
        self.assertTrue(classes)
        for cls in classes:
            key = (cls.__module__, cls.__qualname__)
            self.assertIs(allowed.objects.get(key), cls)
            self.assertIn(key, allowed.constructible)

    def test_model_notification_round_trip(self) -> None:
        try:
            from juego.model import Notification
        except ImportError:
            self.skipTest("juego.model does not exist yet")
        notification = Notification(
            id=1,
            user_id=2,
            message="¡Nuevo récord personal: 50 puntos!",
            type="success",
            timestamp=datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
            leida=False,
        )
        data, sig = encode_wire_pickle({"notifications": [notification]}, SECRET)
        back: Any = decode_wire_pickle(data, sig, SECRET)
        self.assertEqual(back, {"notifications": [notification]})
        self.assertIsInstance(back["notifications"][0], Notification)

    def test_model_classes_are_found_lazily(self) -> None:
        """Classes listed in C{juego.model.__all__} are allowed; others are not."""
        fake: Any = types.ModuleType("juego.model")

        class Exportada:
            def __init__(self, valor: int) -> None:
                self.valor = valor

        class Oculta:
            pass

        for cls in (Exportada, Oculta):
            cls.__module__ = "juego.model"
            cls.__qualname__ = cls.__name__
            setattr(fake, cls.__name__, cls)
        fake.PurePath = __import__("pathlib").PurePosixPath  # re-exported, not ours
        fake.__all__ = ["Exportada", "PurePath", "utcnow"]
        fake.utcnow = lambda: None
        previous = sys.modules.get("juego.model")
        sys.modules["juego.model"] = fake
        try:
            data, _ = encode_wire_pickle({"x": Exportada(5)}, None)
            back: Any = decode_wire_pickle(data, None, None)
            self.assertIsInstance(back["x"], Exportada)
            self.assertEqual(back["x"].valor, 5)
            data, _ = encode_wire_pickle(Oculta(), None)
            exc = self.assertRaises(ForbiddenGlobal, decode_wire_pickle, data, None, None)
            self.assertEqual((exc.module, exc.name), ("juego.model", "Oculta"))
            data, _ = encode_wire_pickle(fake.PurePath("/tmp"), None)
            self.assertRaises(ForbiddenGlobal, decode_wire_pickle, data, None, None)
        finally:
            if previous is None:
                del sys.modules["juego.model"]
            else:
                sys.modules["juego.model"] = previous

    def test_unregistered_class_is_refused(self) -> None:
        data, sig = encode_wire_pickle({"a": NoRegistrada(1)}, SECRET)
        exc = self.assertRaises(ForbiddenGlobal, decode_wire_pickle, data, sig, SECRET)
        self.assertEqual((exc.module, exc.name), (__name__, "NoRegistrada"))
        self.assertIn(f"{__name__}.NoRegistrada", str(exc))

    def test_allow_class_checks_its_argument(self) -> None:
        self.assertRaises(TypeError, allow_class, NoRegistrada(1))
        self.assertRaises(TypeError, allow_class, "os.system")
        self.assertRaises(ValueError, allow_class, str)
        self.assertRaises(ValueError, allow_class, datetime)

    def test_large_legitimate_reply(self) -> None:
        """The limits leave room for big, ordinary replies."""
        value = {
            "notifications": [_notification(n) for n in range(5000)],
            "por_usuario": {n: float(n) for n in range(1000)},
            "texto": "x" * 1_000_000,
        }
        start = time.monotonic()
        data, sig = encode_wire_pickle(value, SECRET)
        back: Any = decode_wire_pickle(data, sig, SECRET)
        self.assertEqual(back, value)
        self.assertLess(time.monotonic() - start, 10)

    @given(_wire_values)
    def test_wire_round_trip(self, value: Any) -> None:
        data, sig = encode_wire_pickle(value, SECRET)
        self.assertTrue(_same(decode_wire_pickle(data, sig, SECRET), value))

    @settings(max_examples=300)
    @given(st.binary(max_size=300))
    def test_random_bytes_never_escape(self, raw: bytes) -> None:
        try:
            decode_wire_pickle(_b64(raw), None, None)
        except PickleRefused:
            pass

    @settings(max_examples=300)
    @given(_wire_values, st.data())
    def test_mutated_pickles_never_escape(self, value: Any, data: st.DataObject) -> None:
        raw = bytearray(pickle.dumps(value, protocol=5))
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
            raw[index] = data.draw(st.integers(min_value=0, max_value=255))
        try:
            decode_wire_pickle(_b64(bytes(raw)), None, None)
        except PickleRefused:
            pass
        self.assertEqual(_Sentinel.calls, 0)


# -- the network path: hostile pickles --------------------------------------------------


def _hostile_payloads(marker: str) -> list[tuple[str, bytes, tuple[str, str]]]:
    """
    Pickles that, loaded with plain C{pickle.loads}, create I{marker} or bump the
    sentinel.  Each comes with the first global the allow-list must refuse.
    """
    touch = f"touch {shlex.quote(marker)}"
    touch_expr = f"__import__('pathlib').Path({marker!r}).touch()"

    def dumps(obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=5)

    return [
        (
            "reduce os.system",
            dumps(_Payload(os.system, (touch,))),
            (os.system.__module__, "system"),
        ),
        (
            "reduce open",
            dumps(_Payload(builtins.open, (marker, "w"))),
            (builtins.open.__module__, "open"),
        ),
        (
            "reduce subprocess.Popen",
            dumps(_Payload(subprocess.Popen, (["touch", marker],))),
            ("subprocess", "Popen"),
        ),
        ("reduce eval", dumps(_Payload(builtins.eval, (touch_expr,))), ("builtins", "eval")),
        ("reduce exec", dumps(_Payload(builtins.exec, (touch_expr,))), ("builtins", "exec")),
        (
            "getattr chain",
            dumps(_Payload(_Payload(builtins.getattr, (_Sentinel, "hit")), ())),
            ("builtins", "getattr"),
        ),
        ("sentinel function", dumps(_Payload(_sentinel_hit, ())), (__name__, "_sentinel_hit")),
        ("GLOBAL os.system", b"cos\nsystem\n(V" + _line(touch) + b"tR.", ("os", "system")),
        (
            "STACK_GLOBAL os.system",
            b"\x80\x04" + _ustr("os") + _ustr("system") + b"\x93" + _ustr(touch) + b"\x85R.",
            ("os", "system"),
        ),
        ("INST os.system", b"(V" + _line(touch) + b"ios\nsystem\n.", ("os", "system")),
        ("OBJ os.system", b"(cos\nsystem\nV" + _line(touch) + b"o.", ("os", "system")),
        (
            "copyreg._reconstructor around os.system",
            b"ccopyreg\n_reconstructor\n(cbuiltins\nobject\ncbuiltins\nobject\n"
            b"cos\nsystem\n(V" + _line(touch) + b"tRtR.",
            ("copyreg", "_reconstructor"),
        ),
        (
            "copyreg._reconstructor calling Popen.__init__",
            b"ccopyreg\n_reconstructor\n(csubprocess\nPopen\ncsubprocess\nPopen\n"
            b"(lp0\nVtouch\naV" + _line(marker) + b"atR.",
            ("copyreg", "_reconstructor"),
        ),
        (
            "__builtin__.eval (protocol 2 name mapping)",
            b"c__builtin__\neval\n(V" + _line(touch_expr) + b"tR.",
            ("__builtin__", "eval"),
        ),
        (
            "hand-assembled getattr chain",
            b"\x80\x04"
            + _ustr("builtins")
            + _ustr("getattr")
            + b"\x93"
            + _ustr(__name__)
            + _ustr("_Sentinel")
            + b"\x93"
            + _ustr("hit")
            + b"\x86R)R.",
            ("builtins", "getattr"),
        ),
    ]


def _run_plain(raw: bytes) -> None:
    """Load with the unrestricted unpickler, and finish whatever it started."""
    result = pickle.loads(raw)
    if isinstance(result, subprocess.Popen):
        result.wait()
    elif isinstance(result, io.IOBase):
        result.close()


class HostilePickleTests(SynchronousTestCase):
    """Pickles built to run code: refused, signed or not, and nothing runs."""

    def setUp(self) -> None:
        _Sentinel.calls = 0
        self.marker = os.path.abspath(self.mktemp())

    def assertNothingRan(self, label: str) -> None:
        self.assertFalse(os.path.exists(self.marker), f"{label}: the payload ran")
        self.assertEqual(_Sentinel.calls, 0, f"{label}: the payload ran")

    def test_payloads_are_live(self) -> None:
        """Control: plain pickle.loads does run every payload, so the tests below mean something."""
        for label, raw, _ in _hostile_payloads(self.marker):
            _run_plain(raw)
            ran = os.path.exists(self.marker) or _Sentinel.calls == 1
            self.assertTrue(ran, f"{label} did not run under plain pickle.loads")
            if os.path.exists(self.marker):
                os.remove(self.marker)
            _Sentinel.calls = 0

    def test_unsigned_hostile_pickles_are_refused(self) -> None:
        for label, raw, (module, name) in _hostile_payloads(self.marker):
            exc = self.assertRaises(ForbiddenGlobal, decode_wire_pickle, _b64(raw), None, None)
            self.assertEqual((exc.module, exc.name), (module, name), label)
            self.assertIn(f"{module}.{name}", str(exc))
            self.assertNothingRan(label)

    def test_signed_hostile_pickles_are_refused(self) -> None:
        """A valid signature does not make a forbidden global acceptable."""
        for label, raw, (module, name) in _hostile_payloads(self.marker):
            exc = self.assertRaises(
                ForbiddenGlobal,
                decode_wire_pickle,
                _b64(raw),
                _sign(raw),
                SECRET,
                require_signature=True,
            )
            self.assertEqual((exc.module, exc.name), (module, name), label)
            self.assertNothingRan(label)

    def test_safe_unpickler_alone_refuses_them(self) -> None:
        """The allow-list holds in the unpickler itself, whatever calls it."""
        for label, raw, (module, name) in _hostile_payloads(self.marker):
            exc = self.assertRaises(ForbiddenGlobal, SafeUnpickler(io.BytesIO(raw)).load)
            self.assertEqual((exc.module, exc.name), (module, name), label)
            self.assertNothingRan(label)

    def test_copyreg_is_not_allowed(self) -> None:
        for name in ("_reconstructor", "__newobj__", "__newobj_ex__"):
            raw = b"\x80\x04" + _ustr("copyreg") + _ustr(name) + b"\x93."
            exc = self.assertRaises(ForbiddenGlobal, decode_wire_pickle, _b64(raw), None, None)
            self.assertEqual((exc.module, exc.name), ("copyreg", name))


# -- the network path: allowed globals, abused -------------------------------------------


class StructureTests(SynchronousTestCase):
    """
    Pickles that name only allowed globals (or none) but would crash, stall or poison
    the process: each refused with a clear error, quickly, and nothing poisoned.
    """

    def assertRefused(self, raw: bytes, fragment: str = "") -> PickleRefused:
        start = time.monotonic()
        exc = self.assertRaises(PickleRefused, decode_wire_pickle, _b64(raw), None, None)
        self.assertNotIsInstance(exc, ForbiddenGlobal)
        self.assertIn(fragment, str(exc))
        self.assertLess(time.monotonic() - start, 5)
        return exc

    def test_deep_nesting(self) -> None:
        """Hashing a 200,000-deep tuple overflows the C stack: a segfault, not an error."""
        deep = b")" + b"\x85" * 200_000
        self.assertRefused(b"\x80\x05(" + deep + b"\x91.", "claves")  # in a frozenset
        self.assertRefused(b"\x80\x05}" + deep + b"Ns.", "claves")  # a dict key
        self.assertRefused(b"\x80\x05" + deep + b".", "anidamiento")  # the value itself

    def test_nesting_limit_is_exact(self) -> None:
        depth = serialization.MAX_NESTING_DEPTH
        ok = b"\x80\x05)" + b"\x85" * (depth - 1) + b"."
        decode_wire_pickle(_b64(ok), None, None)
        self.assertRefused(b"\x80\x05)" + b"\x85" * depth + b".", "anidamiento")

    @settings(max_examples=50)
    @given(st.lists(st.sampled_from(["list", "tuple", "dict", "model"]), max_size=150))
    def test_nesting_loads_or_is_refused(self, shape: list[str]) -> None:
        value: Any = 0
        for kind in shape:
            if kind == "list":
                value = [value]
            elif kind == "tuple":
                value = (value,)
            elif kind == "dict":
                value = {"k": value}
            else:
                value = attrs.evolve(_notification(), message=value)
        data, _ = encode_wire_pickle(value, None)
        if len(shape) < serialization.MAX_NESTING_DEPTH:
            self.assertEqual(decode_wire_pickle(data, None, None), value)
        else:
            self.assertRefused(base64.b64decode(data), "anidamiento")

    def test_deep_lists(self) -> None:
        raw = b"\x80\x05" + b"]" * 1000 + b"a" * 999 + b"."
        self.assertRefused(raw, "anidamiento")

    def test_cycles(self) -> None:
        raw = b"\x80\x05]\x94h\x00a."  # L = []; L.append(L)
        self.assertRefused(raw, "anidamiento")

    def test_marks(self) -> None:
        self.assertRefused(b"\x80\x05" + b"(" * 1_000_000 + b".", "anidamiento")

    def test_shared_reference_bomb(self) -> None:
        """80 bytes whose value is a tuple tree with 2**40 leaves; hashing it never ends."""
        raw = b"\x80\x05)" + b"2\x86" * 40 + b"."  # DUP, TUPLE2
        self.assertRefused(raw, "expande")
        self.assertRefused(b"\x80\x05(" + raw[2:-1] + b"\x91.", "claves")

    def test_repeated_big_string(self) -> None:
        text = "x" * 100_000
        raw = pickle.dumps([text] * 1000, protocol=5)
        self.assertLess(len(raw), 200_000)
        self.assertRefused(raw, "expande")

    def test_hash_flooding(self) -> None:
        """Integer keys that all hash alike make every insert scan every key."""
        modulus = sys.hash_info.modulus
        keys = [n * modulus for n in range(4000)]
        self.assertEqual(len({hash(k) for k in keys}), 1)
        raw = pickle.dumps(dict.fromkeys(keys, 0), protocol=5)
        self.assertRefused(raw, "claves")
        raw = pickle.dumps(set(keys), protocol=5)
        self.assertRefused(raw, "claves")

    def test_huge_lengths(self) -> None:
        """Lengths announced with no bytes behind them: refused, nothing allocated."""
        huge = struct.pack("<Q", 2**62)
        for raw in (
            b"\x80\x05\x8d" + huge + b"x.",  # BINUNICODE8
            b"\x80\x05\x8e" + huge + b"x.",  # BINBYTES8
            b"\x80\x05\x96" + huge + b"x.",  # BYTEARRAY8 (Python's own allocates first)
            b"\x80\x05\x95" + huge + b"N",  # FRAME
            b"\x80\x05\x8b" + struct.pack("<i", 2**31 - 1) + b"x.",  # LONG4
            b"\x80\x05X" + struct.pack("<I", 2**32 - 1) + b"x.",  # BINUNICODE
        ):
            self.assertRefused(raw)

    def test_calling_value_only_builtins(self) -> None:
        """C{str(list)} and C{bytes(n)} amplify memory; allowed as values, never called."""
        repeated = _ustr("x" * 200) + b"\x940](" + b"h\x00" * 100 + b"e\x85"  # ([s] * 100,)
        for name, arg in (
            ("str", repeated),
            ("bytes", b"\x8a\x05\x00\x00\x00\x00\x01\x85"),  # LONG1 2**32
            ("bytearray", b"J\x00\x00\x00\x40\x85"),  # BININT 2**30
            ("int", _ustr("9" * 200) + b"\x85"),
        ):
            raw = b"\x80\x05" + _ustr("builtins") + _ustr(name) + b"\x93" + arg + b"R."
            self.assertRefused(raw, f"construir builtins.{name}")
        # Control: the plain unpickler calls it.
        self.assertIsInstance(pickle.loads(b"\x80\x05" + _ustr("builtins") + _ustr("str")
                                           + b"\x93" + repeated + b"R."), str)  # fmt: skip

    def test_huge_integer_argument(self) -> None:
        """C{Decimal(int)} is quadratic in the number of digits."""
        big = (1 << 4_000_000) - 1
        raw = pickle.dumps(_Payload(decimal.Decimal, (big,)), protocol=5)
        self.assertRefused(raw, "entero demasiado grande")

    def test_compound_constructor_arguments(self) -> None:
        pairs = [(n, n) for n in range(10)]
        raw = pickle.dumps(_Payload(collections.OrderedDict, (pairs,)), protocol=5)
        self.assertRefused(raw, "argumentos simples")

    def test_build_on_a_class(self) -> None:
        """BUILD on a global would set attributes on the class itself, process-wide."""
        raw = (
            b"\x80\x05"
            + _ustr(__name__)
            + _ustr("ColorPrueba")
            + b"\x93"
            + b"N}"
            + _ustr("envenenado")
            + b"\x88s\x86b."
        )

        def cleanup() -> None:
            if "envenenado" in vars(ColorPrueba):
                delattr(ColorPrueba, "envenenado")

        self.addCleanup(cleanup)
        # Control: with the plain unpickler, the class really is poisoned.
        pickle.loads(raw)
        self.assertIs(vars(ColorPrueba).get("envenenado"), True)
        cleanup()
        self.assertRefused(raw, "BUILD")
        self.assertNotIn("envenenado", vars(ColorPrueba))

    def test_build_on_an_enum_member(self) -> None:
        """Enum "construction" returns the shared member; BUILD would rewrite it."""
        raw = (
            b"\x80\x05"
            + _ustr(__name__)
            + _ustr("ColorPrueba")
            + b"\x93"
            + b"K\x01\x85R"
            + b"}"
            + _ustr("_value_")
            + b"Kcs"
            + b"b."
        )
        member = ColorPrueba.ROJO
        self.addCleanup(setattr, member, "_value_", 1)
        # Control: with the plain unpickler, the process-wide member really changes.
        pickle.loads(raw)
        self.assertEqual(member.value, 99)
        member._value_ = 1
        self.assertRefused(raw, "BUILD")
        self.assertEqual(member.value, 1)

    def test_exotic_opcodes(self) -> None:
        for opcode, raw in (
            ("EXT1", b"\x80\x05\x82\x01."),
            ("BINPERSID", b"\x80\x05K\x01Q."),
            ("PERSID", b"P1\n."),
            ("NEXT_BUFFER", b"\x80\x05\x97."),
            ("NEWOBJ_EX", b"\x80\x05" + _ustr("uuid") + _ustr("UUID") + b"\x93)}\x92."),
        ):
            self.assertRefused(raw, opcode)

    def test_trailing_data(self) -> None:
        raw = pickle.dumps({"a": 1}, protocol=5) + b"basura"
        self.assertRefused(raw, "tras el final")

    def test_garbage(self) -> None:
        for raw in (b"", b"hola", b"\x80\x05", pickle.dumps([1, 2, 3], protocol=5)[:-3]):
            self.assertRefused(raw)

    def test_unpickler_errors_are_wrapped(self) -> None:
        """Errors raised while loading become PickleRefused too."""
        raw = b"\x80\x05" + _ustr("datetime") + _ustr("timedelta") + b"\x93J\xff\xff\xff\x7f\x85R."
        exc = self.assertRaises(PickleRefused, decode_wire_pickle, _b64(raw), None, None)
        self.assertIsInstance(exc.__cause__, OverflowError)

    def test_interpreter_errors_are_refusals(self) -> None:
        """Whatever the loading raises, even the interpreter's own errors, is a refusal."""
        data, _ = encode_wire_pickle([1], None)
        for error in (RecursionError, MemoryError, SystemError, KeyError, struct.error):

            def load(self: Any, error: type[BaseException] = error) -> Any:
                raise error("boom")

            self.patch(SafeUnpickler, "load", load)
            exc = self.assertRaises(PickleRefused, decode_wire_pickle, data, None, None)
            self.assertIn(error.__name__, str(exc))
            self.assertIsInstance(exc.__cause__, error)
