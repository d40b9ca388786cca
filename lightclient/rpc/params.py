"""Decoding JSON-RPC parameters the way go-ethereum's ``rpc`` package does.

geth decodes positional parameters with Go's ``encoding/json`` into the method's argument
types, and its error messages say so ("invalid argument 0: json: cannot unmarshal string
into Go value of type uint64"). Clients match on these messages, so we keep them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lightclient.core import jsontext
from lightclient.errors import InvalidInput

__all__ = [
    "JsonFloat",
    "JsonInt",
    "Param",
    "decode_request_body",
    "go_int",
    "go_int64",
    "go_map",
    "go_string",
    "go_string_list",
    "go_uint64",
    "parse_params",
]


# Python refuses to convert integer texts of more than 4300 digits (CVE-2020-10735). Such
# a number is valid JSON, so it decodes, saturated to a value outside every range any
# parameter accepts, and is refused by the parameter's decoder with geth's message.
MAX_INT_DIGITS = 4300
_HUGE = 10 ** (MAX_INT_DIGITS + 1)


class JsonInt(int):
    """An integer from the request, with the text it was written as."""

    text: str
    huge: bool

    def __new__(cls, text: str) -> JsonInt:
        huge = len(text.lstrip("-")) > MAX_INT_DIGITS
        number = (-_HUGE if text.startswith("-") else _HUGE) if huge else int(text)
        value = super().__new__(cls, number)
        value.text = text
        value.huge = huge
        return value


class JsonFloat(float):
    """A non-integer JSON number, with its text (Go refuses it for integer types)."""

    text: str

    def __new__(cls, text: str) -> JsonFloat:
        value = super().__new__(cls, float(text))
        value.text = text
        return value


def decode_request_body(body: bytes | str, max_items: int = 20_000) -> Any:
    """Strict JSON (UTF-8, no NaN/Infinity, bounded depth and size) with numbers that
    remember their text; raises ValueError on malformed JSON, DecodeError past a bound."""
    return jsontext.loads_strict(
        body, max_items=max_items, parse_int=JsonInt, parse_float=JsonFloat
    )


def _shown(text: str) -> str:
    """A number's text as an error message shows it: long ones cut in the middle."""
    return text if len(text) <= 80 else f"{text[:40]}...{text[-20:]} ({len(text)} digits)"


def _go_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number"


def _go_integer(value: object, go_type: str, low: int, high: int) -> int:
    if value is None:
        return 0  # Go leaves a non-pointer integer at zero for JSON null
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(
            f"json: cannot unmarshal {_go_kind(value)} into Go value of type {go_type}"
        )
    text = _shown(value.text if isinstance(value, JsonInt | JsonFloat) else repr(value))
    if isinstance(value, float) or not low <= int(value) <= high:
        raise InvalidInput(f"json: cannot unmarshal number {text} into Go value of type {go_type}")
    return int(value)


def go_uint64(value: object) -> int:
    return _go_integer(value, "uint64", 0, 2**64 - 1)


def go_int64(value: object) -> int:
    return _go_integer(value, "int64", -(2**63), 2**63 - 1)


def go_string(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"json: cannot unmarshal {_go_kind(value)} into Go value of type string")
    return value


def go_string_list(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(
            f"json: cannot unmarshal {_go_kind(value)} into Go value of type []string"
        )
    return [go_string(item) for item in value]


def go_map(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        go_type = "map[string]interface {}"
        raise InvalidInput(
            f"json: cannot unmarshal {_go_kind(value)} into Go value of type {go_type}"
        )
    return value


def go_int(value: object) -> int:
    return _go_integer(value, "int", -(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Param:
    """One positional parameter: its decoder, and whether it may be left out."""

    decode: Callable[[Any], Any]
    optional: bool = False
    default: Any = None


def parse_params(params: object, spec: Sequence[Param]) -> list[Any]:
    """Positional parameters by geth's rules; raises InvalidInput with geth's messages."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidInput("non-array args")
    if len(params) > len(spec):
        raise InvalidInput(f"too many arguments, want at most {len(spec)}")
    out: list[Any] = []
    for i, param in enumerate(spec):
        if i >= len(params):
            if not param.optional:
                raise InvalidInput(f"missing value for required argument {i}")
            out.append(param.default)
            continue
        try:
            out.append(param.decode(params[i]))
        except InvalidInput as exc:
            raise InvalidInput(f"invalid argument {i}: {exc}") from None
    return out
