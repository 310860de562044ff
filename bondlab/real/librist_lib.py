"""The loaded librist 0.2.7 binding and what every part of the wrapper shares.

Why a module of its own: the compiled cffi module (`bondlab.real._librist_cffi`, built at install
time by `_librist_build.py`) is imported in exactly one place, with the install hint when it is
missing; the stats, URL, context and burst modules take `ffi` and `lib` from here. It also holds
what is process-wide rather than per context: the error type, the profiles, the payload limit,
the version queries and the routing of librist's log lines into Python `logging` (one threshold
for the global settings and every live context, `set_log_level`).
"""

from __future__ import annotations

import logging
import weakref
from enum import IntEnum
from typing import TYPE_CHECKING, Any

try:  # `as`: re-exported, the other librist modules take the binding from here
    from bondlab.real._librist_cffi import ffi as ffi
    from bondlab.real._librist_cffi import lib as lib
except ImportError as exc:  # pragma: no cover - exercised only on hosts without librist-dev
    raise ImportError(
        "librist binding not built: install librist-dev and reinstall bondlab: pip install -e ."
    ) from exc

if TYPE_CHECKING:
    from bondlab.real.librist_context import NativeContext

logger = logging.getLogger("bondlab.real.librist")

# Largest payload rist_sender_data_write takes: RIST_MAX_PACKET_SIZE (10000) minus 32 bytes of
# GRE + RTP headers (librist's own check; larger payloads are dropped with an error log).
MAX_PAYLOAD = 10000 - 32


class RistError(RuntimeError):
    """A librist call returned an error code."""


class Profile(IntEnum):
    """RIST profiles librist implements (advanced silently falls back to main in 0.2.7)."""

    SIMPLE = 0
    MAIN = 1


def librist_version() -> str:
    """Version of the librist library actually loaded (e.g. "0.2.7")."""
    version: str = ffi.string(lib.librist_version()).decode()
    return version


def librist_api_version() -> str:
    """librist's API version (e.g. "4.2.0"), which is what ABI compatibility follows."""
    version: str = ffi.string(lib.librist_api_version()).decode()
    return version


# --------------------------------------------------------------------------------------------
# Logging: librist -> Python `logging`
# --------------------------------------------------------------------------------------------

_RIST_TO_PY = {
    lib.RIST_LOG_ERROR: logging.ERROR,
    lib.RIST_LOG_WARN: logging.WARNING,
    lib.RIST_LOG_NOTICE: logging.INFO,
    lib.RIST_LOG_INFO: logging.INFO,
    lib.RIST_LOG_DEBUG: logging.DEBUG,
}


def _to_rist_level(level: int) -> int:
    """Python logging level -> librist threshold (librist filters in C, before any Python call)."""
    rist_level: int
    if level <= logging.DEBUG:
        rist_level = lib.RIST_LOG_DEBUG
    elif level <= logging.INFO:
        rist_level = lib.RIST_LOG_INFO
    elif level <= logging.WARNING:
        rist_level = lib.RIST_LOG_WARN
    elif level <= logging.CRITICAL:
        rist_level = lib.RIST_LOG_ERROR
    else:
        rist_level = lib.RIST_LOG_DISABLE
    return rist_level


def _parse_level(level: int | str) -> int:
    if isinstance(level, str):
        mapping = logging.getLevelNamesMapping()
        if level.upper() not in mapping:
            raise ValueError(f"unknown log level {level!r}")
        return mapping[level.upper()]
    return int(level)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _bondlab_rist_log_cb(arg: Any, level: int, msg: Any) -> int:
    """Called by librist (any thread) for each message at or above the context's threshold."""
    try:
        text = ffi.string(msg).decode("utf-8", "replace").rstrip()
        logger.log(_RIST_TO_PY.get(level, logging.ERROR), "%s", text)
    except Exception:  # a log line must never take librist down
        pass
    return 0


# librist stores a *pointer* to the logging settings in each context, so each context gets its own
# struct (freed after rist_destroy). Its callback argument is NULL: the callback only needs the
# module logger, so no handle can dangle. The global settings (used by librist code without a
# context, e.g. URL parsing errors) are a copy of a module-level struct that is never freed.
_default_level = logging.WARNING
# Every open context's C objects, so set_log_level reaches contexts made before it was called.
live_natives: weakref.WeakSet[NativeContext] = weakref.WeakSet()
_global_settings = ffi.new("struct rist_logging_settings **")
if (
    lib.rist_logging_set(
        _global_settings,
        _to_rist_level(_default_level),
        lib._bondlab_rist_log_cb,
        ffi.NULL,
        ffi.NULL,
        ffi.NULL,
    )
    == 0
):
    lib.rist_logging_set_global(_global_settings[0])


def set_log_level(level: int | str) -> None:
    """Set librist's log threshold (Python level or name) for existing and future contexts.

    Default is WARNING so librist's chatty INFO lines stay out of experiment output. The logger
    "bondlab.real.librist" still applies its own level on top.
    """
    global _default_level
    _default_level = _parse_level(level)
    rist_level = _to_rist_level(_default_level)
    if _global_settings[0] != ffi.NULL:
        _global_settings[0].log_level = rist_level
        lib.rist_logging_set_global(_global_settings[0])
    for native in list(live_natives):
        native.set_log_level(rist_level)


def rist_log_level(log_level: int | str | None) -> int:
    """librist threshold for a new context: `log_level` (Python level or name), else the default."""
    level = _default_level if log_level is None else _parse_level(log_level)
    return _to_rist_level(level)
