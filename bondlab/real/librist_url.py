"""rist:// peer URLs, parsed and checked with librist's own parser.

Why a module of its own: librist's parser is lenient (an unknown parameter is only printed, a
non-numeric value becomes 0), so a typo in an experiment's URL would run with a 0 ms buffer.
`parse_config` fails loudly instead; `parse_url` shows which parameters take effect.

URL parameters librist 0.2.7 accepts on `rist://` peers (checked with `parse_url`): buffer,
buffer-min, buffer-max (ms), bandwidth, return-bandwidth (kbps), reorder-buffer, rtt, rtt-min,
rtt-max (ms), weight, cname, min-retries, max-retries, congestion-control, session-timeout,
keepalive-interval (ms), timing-mode, virt-dst-port, secret, aes-type, key-rotation, compression,
miface, username, password. `rist://@host:port` listens, `rist://host:port` connects.
(virt-src-port, profile, verbose-level, stream-id, multiplex-mode are *rejected* on rist:// URLs.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bondlab.real.librist_lib import RistError, ffi, lib


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """What librist made of a peer URL (`struct rist_peer_config`); durations in ms, rates kbps."""

    address: str
    recovery_length_min_ms: int
    recovery_length_max_ms: int
    recovery_maxbitrate_kbps: int
    recovery_maxbitrate_return_kbps: int
    recovery_reorder_buffer_ms: int
    recovery_rtt_min_ms: int
    recovery_rtt_max_ms: int
    weight: int
    cname: str
    congestion_control_mode: int
    min_retries: int
    max_retries: int
    session_timeout_ms: int
    keepalive_interval_ms: int
    timing_mode: int
    virt_dst_port: int


def parse_config(url: str) -> Any:
    """rist_parse_address2 into a librist-allocated config; caller frees with rist_peer_config_free2.

    librist returns non-zero when a parameter is unknown (and just prints it to stderr), and
    silently turns a non-numeric value into 0: both are caught here, so a typo in an experiment's
    URL fails loudly instead of running with a 0 ms buffer.
    """
    pp = ffi.new("struct rist_peer_config **")
    ret = lib.rist_parse_address2(url.encode(), pp)
    if pp[0] == ffi.NULL:
        raise RistError(f"rist_parse_address2 failed for {url!r}")
    if ret != 0:
        lib.rist_peer_config_free2(pp)
        raise ValueError(f"unknown or invalid URL parameter in {url!r}")
    _check_numeric_params(url)
    return pp


_NUMERIC_PARAMS = frozenset(
    {
        "buffer",
        "buffer-min",
        "buffer-max",
        "bandwidth",
        "return-bandwidth",
        "reorder-buffer",
        "rtt",
        "rtt-min",
        "rtt-max",
        "weight",
        "min-retries",
        "max-retries",
        "congestion-control",
        "session-timeout",
        "keepalive-interval",
        "timing-mode",
        "virt-dst-port",
        "aes-type",
        "key-rotation",
        "compression",
    }
)


def _check_numeric_params(url: str) -> None:
    _, _, query = url.partition("?")
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key in _NUMERIC_PARAMS and not value.strip().isdigit():
            raise ValueError(f"URL parameter {key}={value!r} in {url!r} is not a non-negative integer")


def config_of(c: Any) -> PeerConfig:
    return PeerConfig(
        address=ffi.string(c.address).decode(),
        recovery_length_min_ms=c.recovery_length_min,
        recovery_length_max_ms=c.recovery_length_max,
        recovery_maxbitrate_kbps=c.recovery_maxbitrate,
        recovery_maxbitrate_return_kbps=c.recovery_maxbitrate_return,
        recovery_reorder_buffer_ms=c.recovery_reorder_buffer,
        recovery_rtt_min_ms=c.recovery_rtt_min,
        recovery_rtt_max_ms=c.recovery_rtt_max,
        weight=c.weight,
        cname=ffi.string(c.cname).decode(),
        congestion_control_mode=c.congestion_control_mode,
        min_retries=c.min_retries,
        max_retries=c.max_retries,
        session_timeout_ms=c.session_timeout,
        keepalive_interval_ms=c.keepalive_interval,
        timing_mode=c.timing_mode,
        virt_dst_port=c.virt_dst_port,
    )


def parse_url(url: str) -> PeerConfig:
    """Parse a rist:// URL with librist's own parser, to check which parameters take effect."""
    pp = parse_config(url)
    try:
        return config_of(pp[0])
    finally:
        lib.rist_peer_config_free2(pp)
