"""
Reading the fields of a request, with a clear C{invalid_request} for each mistake.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping
from typing import Any

from juego.wire.errors import invalid

_MISSING = object()


class Request:
    """
    A parsed request line: a JSON object with a string C{action}.
    """

    def __init__(self, fields: Mapping[builtins.str, Any], connection: Any = None) -> None:
        self.fields = fields
        #: The L{juego.wire.protocol.LineProtocol} the request arrived on, for actions
        #: that act on the connection itself (C{subscribe}).
        self.connection = connection

    @property
    def action(self) -> builtins.str:
        return self.fields["action"]

    def _get(self, name: builtins.str, default: Any) -> Any:
        value = self.fields.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise invalid(f"Falta el campo '{name}'")
            return default
        return value

    def int(
        self,
        name: builtins.str,
        default: Any = _MISSING,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> Any:
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        # bool is an int subclass in Python, never in the protocol
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(f"El campo '{name}' debe ser un número entero")
        if minimum is not None and value < minimum:
            raise invalid(f"El campo '{name}' debe ser mayor o igual que {minimum}")
        if maximum is not None and value > maximum:
            raise invalid(f"El campo '{name}' debe ser menor o igual que {maximum}")
        return value

    def str(
        self,
        name: builtins.str,
        default: Any = _MISSING,
        maxLength: builtins.int = 1000,
        minLength: builtins.int = 0,
    ) -> Any:
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise invalid(f"El campo '{name}' debe ser un texto")
        if len(value) > maxLength:
            raise invalid(f"El campo '{name}' admite como mucho {maxLength} caracteres")
        if len(value) < minLength:
            raise invalid(f"El campo '{name}' no puede estar vacío")
        return value

    def bool(self, name: builtins.str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise invalid(f"El campo '{name}' debe ser true o false")
        return value

    def choice(
        self, name: builtins.str, choices: tuple[builtins.str, ...], default: Any = _MISSING
    ) -> Any:
        value = self.str(name, default)
        if value not in choices:
            raise invalid(f"El campo '{name}' debe ser uno de: {', '.join(choices)}")
        return value

    def number(
        self,
        name: builtins.str,
        default: Any = _MISSING,
        minimum: builtins.float | None = None,
        maximum: builtins.float | None = None,
    ) -> Any:
        """
        A finite number, integer or not.
        """
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        if (
            not isinstance(value, int | builtins.float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise invalid(f"El campo '{name}' debe ser un número")
        if minimum is not None and value < minimum:
            raise invalid(f"El campo '{name}' debe ser mayor o igual que {minimum}")
        if maximum is not None and value > maximum:
            raise invalid(f"El campo '{name}' debe ser menor o igual que {maximum}")
        return value

    def object(self, name: builtins.str, default: Any = _MISSING) -> Any:
        """
        A nested object, read with the same checks (a L{Request} of its own).
        """
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, dict):
            raise invalid(f"El campo '{name}' debe ser un objeto")
        return Request(value, self.connection)

    def intList(
        self, name: builtins.str, default: Any = _MISSING, maxItems: builtins.int = 1000
    ) -> Any:
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        if (
            not isinstance(value, list)
            or len(value) > maxItems
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise invalid(f"El campo '{name}' debe ser una lista de enteros")
        return value
