"""Pythonic wrapper over the cffi binding to librist 0.2.7 (compiled at install time).

Why a wrapper: librist calls back (logs, stats) from its own threads, hands out memory the caller
must free, and keeps raw pointers to objects we pass in. This module owns those lifetimes so the
rest of bondlab only sees bytes, dataclasses and `close()`:

- every `ffi.new_handle` and logging-settings struct lives until `rist_destroy` has returned (after
  which librist makes no more callbacks), never shorter;
- `rist_stats_free` is called on every stats container, whatever the user callback does;
- user callbacks run on librist threads and may raise: exceptions are logged, never propagated into C.

One sender context drives one flow; librist ignores the `peer` field of a data block, so a
per-packet link choice needs one `RistSender` per link (several instances per process work).
librist's own multi-peer mode (one sender, several peers, weights) is `add_peer` + `set_weight`.
`RistSender.write_burst` writes a frame's packets in one C call, bonding header built in C
(bondlab/real/librist_burst.py); it is several times cheaper per packet than pack() + write().

URL parameters librist 0.2.7 accepts on `rist://` peers (checked with `parse_url`): buffer,
buffer-min, buffer-max (ms), bandwidth, return-bandwidth (kbps), reorder-buffer, rtt, rtt-min,
rtt-max (ms), weight, cname, min-retries, max-retries, congestion-control, session-timeout,
keepalive-interval (ms), timing-mode, virt-dst-port, secret, aes-type, key-rotation, compression,
miface, username, password. `rist://@host:port` listens, `rist://host:port` connects.
(virt-src-port, profile, verbose-level, stream-id, multiplex-mode are *rejected* on rist:// URLs.)

librist 0.2.7 behaviours worth knowing (seen on loopback, see tests/real/test_librist_binding.py):

- The receiver silently drops data that arrives before a peer's RTCP handshake, the first
  packet of a simple-profile flow, and the first packet(s) reaching each peer of a multi-peer
  flow. Wait for a PeerStats with a non-empty cname, and warm multi-peer flows up.
- Simple profile needs an even receiver port (RTCP uses port + 1).
- A sender whose peer never answers keeps sending and reporting (received=0, rtt_ms=0); writes
  never fail. In multi-peer mode a peer that goes silent is dropped from the balancing and its
  stats stop altogether.
- Several senders sharing one flow_id (with `write(seq=...)`) merge into one in-order flow at a
  receiver listening on several peers, but retransmission is only partial: a NACK can go to the
  context that never sent the packet.
- `rist_peer_create` accepts an unresolvable host (it only logs errors).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

try:
    from bondlab.real._librist_cffi import ffi, lib
except ImportError as exc:  # pragma: no cover - exercised only on hosts without librist-dev
    raise ImportError(
        "librist binding not built: install librist-dev and reinstall bondlab: pip install -e ."
    ) from exc

__all__ = [
    "FlowStats",
    "PeerConfig",
    "PeerStats",
    "Profile",
    "ReceivedBlock",
    "RistError",
    "RistPeer",
    "RistReceiver",
    "RistSender",
    "librist_api_version",
    "librist_version",
    "parse_url",
    "set_log_level",
]

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
_live_natives: weakref.WeakSet[_Native] = weakref.WeakSet()
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
    for native in list(_live_natives):
        native.set_log_level(rist_level)


# --------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerStats:
    """One sender peer's stats for one interval (librist `rist_stats_sender_peer`).

    Measured against librist 0.2.7 on loopback and through a delaying relay:

    - `bandwidth_bps`: payload bits/s the sender pushed to this peer, smoothed over ~1 s whatever
      the stats interval (rises to ~70 % of a step in 1 s, ~94 % in 2 s; halves every ~0.5 s once
      sending stops). It is the send rate, not link capacity.
    - `retry_buffer_bandwidth_bps`: librist's `retry_bandwidth`; 0.2.7 never fills it (always 0).
    - `sent`: packets sent to the peer during this interval, RTCP keepalives/echoes included
      (~20/s); `received`: RTCP packets received from the peer; `retransmitted`: retransmissions.
      Counts are reset after each report.
    - `rtt_ms`: librist's 1/8 EWMA of echo round trips, whole ms (a few ms on bare loopback);
      0 until a first echo came back.
    - `cname`: the *receiver's* cname (from its RTCP SDES; set `?cname=` on the receiver's listen
      URL to name a link); empty until the handshake completes.
    - `peer_id`: librist's internal peer id (main profile: 1, 2... in add order; simple profile
      reports a data peer and an RTCP peer per added peer).

    `t` is `time.monotonic()` at delivery; `json` is librist's own JSON rendering, with extra
    fields (avg_rtt, bloat_skipped, retry_buffer_size...).
    """

    peer_id: int
    cname: str
    bandwidth_bps: int
    retry_buffer_bandwidth_bps: int
    sent: int
    received: int
    retransmitted: int
    quality: float
    rtt_ms: int
    t: float = 0.0
    json: str = ""


@dataclass(frozen=True, slots=True)
class FlowStats:
    """One receiver flow's stats for one interval (librist `rist_stats_receiver_flow`).

    Counts are per interval. In 0.2.7 `bandwidth_bps` is always 0 (the per-peer bitrates are
    only in `json`, under "peers"), and `rtt_ms` is the avg RTT of the flow's *last* peer, not a
    mean. Inter-packet spacings are microseconds (min is 0 when no packet arrived, where librist
    itself reports UINT64_MAX).
    """

    flow_id: int
    peer_count: int
    cname: str
    status: int
    bandwidth_bps: int
    retry_bandwidth_bps: int
    sent: int
    received: int
    missing: int
    reordered: int
    recovered: int
    recovered_one_retry: int
    lost: int
    quality: float
    min_inter_packet_spacing_us: int
    cur_inter_packet_spacing_us: int
    max_inter_packet_spacing_us: int
    rtt_ms: int
    t: float = 0.0
    json: str = ""


_U64_MAX = 2**64 - 1


def _json_of(stats: Any) -> str:
    if stats.stats_json == ffi.NULL:
        return ""
    text: str = ffi.string(stats.stats_json).decode("utf-8", "replace")
    return text


def _sender_stats(stats: Any, now: float) -> PeerStats:
    s = stats.stats.sender_peer
    return PeerStats(
        peer_id=s.peer_id,
        cname=ffi.string(s.cname).decode("utf-8", "replace"),
        bandwidth_bps=s.bandwidth,
        retry_buffer_bandwidth_bps=s.retry_bandwidth,
        sent=s.sent,
        received=s.received,
        retransmitted=s.retransmitted,
        quality=s.quality,
        rtt_ms=s.rtt,
        t=now,
        json=_json_of(stats),
    )


def _receiver_stats(stats: Any, now: float) -> FlowStats:
    s = stats.stats.receiver_flow
    min_ips = s.min_inter_packet_spacing
    return FlowStats(
        flow_id=s.flow_id,
        peer_count=s.peer_count,
        cname=ffi.string(s.cname).decode("utf-8", "replace"),
        status=s.status,
        bandwidth_bps=s.bandwidth,
        retry_bandwidth_bps=s.retry_bandwidth,
        sent=s.sent,
        received=s.received,
        missing=s.missing,
        reordered=s.reordered,
        recovered=s.recovered,
        recovered_one_retry=s.recovered_one_retry,
        lost=s.lost,
        quality=s.quality,
        min_inter_packet_spacing_us=0 if min_ips == _U64_MAX else min_ips,
        cur_inter_packet_spacing_us=s.cur_inter_packet_spacing,
        max_inter_packet_spacing_us=s.max_inter_packet_spacing,
        rtt_ms=s.rtt,
        t=now,
        json=_json_of(stats),
    )


class _StatsSink:
    """What a stats handle points at: the user callable, kept apart from the wrapper object so the
    handle never keeps a RistSender/RistReceiver alive (and its finalizer can still run)."""

    def __init__(self, callback: Callable[[Any], None]) -> None:
        self.callback = callback


_callback_thread = threading.local()


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _bondlab_rist_stats_cb(arg: Any, stats: Any) -> int:
    """Called by librist's protocol thread once per peer (sender) or flow (receiver) per interval."""
    item: PeerStats | FlowStats | None = None
    try:
        try:
            now = time.monotonic()
            if stats.stats_type == lib.RIST_STATS_SENDER_PEER:
                item = _sender_stats(stats, now)
            elif stats.stats_type == lib.RIST_STATS_RECEIVER_FLOW:
                item = _receiver_stats(stats, now)
        finally:
            # librist hands ownership of the container to the callback: free it exactly once,
            # before user code runs (everything needed was copied above).
            lib.rist_stats_free(stats)
        if item is not None and arg != ffi.NULL:
            sink: _StatsSink = ffi.from_handle(arg)
            _callback_thread.active = True
            try:
                sink.callback(item)
            finally:
                _callback_thread.active = False
    except Exception:  # exceptions must not unwind into C
        try:
            logger.exception("librist stats callback raised")
        except Exception:  # interpreter shutting down
            pass
    return 0


# --------------------------------------------------------------------------------------------
# URL parsing
# --------------------------------------------------------------------------------------------


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


def _parse_config(url: str) -> Any:
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


def _config_of(c: Any) -> PeerConfig:
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
    pp = _parse_config(url)
    try:
        return _config_of(pp[0])
    finally:
        lib.rist_peer_config_free2(pp)


# --------------------------------------------------------------------------------------------
# Contexts
# --------------------------------------------------------------------------------------------


class _Native:
    """The C-side objects of one librist context, released exactly once.

    Kept separate from RistSender/RistReceiver so `weakref.finalize` can release them when the
    wrapper is garbage-collected or at interpreter exit without a reference cycle. `lock` guards
    the context pointer against a concurrent close(); it is never held across rist_destroy, since
    rist_destroy joins librist threads that may be waiting to run a Python callback.
    """

    def __init__(self, rist_level: int) -> None:
        self.lock = threading.Lock()
        self.ctx: Any = ffi.NULL
        self.closed = False
        self.log_settings = ffi.new("struct rist_logging_settings **")
        if (
            lib.rist_logging_set(
                self.log_settings, rist_level, lib._bondlab_rist_log_cb, ffi.NULL, ffi.NULL, ffi.NULL
            )
            != 0
        ):
            raise RistError("rist_logging_set failed")
        # Every stats handle ever given to librist; only dropped after rist_destroy, because
        # librist may be running a callback with a replaced handle while it is being replaced.
        self.handles: list[Any] = []
        self.block = ffi.new("struct rist_data_block *")
        self.block_pp = ffi.new("struct rist_data_block **")
        self.burst: Any = None  # librist_burst.BurstState, made on the first write_burst
        _live_natives.add(self)

    def set_log_level(self, rist_level: int) -> None:
        if self.log_settings[0] != ffi.NULL:
            self.log_settings[0].log_level = rist_level

    def require(self) -> Any:
        """The live context pointer; call with `lock` held."""
        if self.closed or self.ctx == ffi.NULL:
            raise RistError("librist context is closed")
        return self.ctx

    def destroy(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            ctx, self.ctx = self.ctx, ffi.NULL
        if getattr(_callback_thread, "active", False):
            # Called from a librist callback: rist_destroy would join the very thread we are on.
            threading.Thread(target=self._release, args=(ctx,), daemon=True, name="librist-destroy").start()
        else:
            self._release(ctx)

    def _release(self, ctx: Any) -> None:
        if ctx != ffi.NULL:
            lib.rist_destroy(ctx)  # joins librist threads: no callback can run after this
        self.handles.clear()
        _live_natives.discard(self)
        if self.log_settings[0] != ffi.NULL:
            lib.rist_logging_settings_free2(self.log_settings)


@dataclass(frozen=True, slots=True, eq=False)
class RistPeer:
    """A peer added to a context: the URL, what librist parsed from it, and the opaque pointer.

    Valid only while its context is open.
    """

    url: str
    config: PeerConfig
    _ptr: Any = field(repr=False)
    _owner: int = field(repr=False)


def _as_profile(profile: Profile | str | int) -> Profile:
    if isinstance(profile, str):
        try:
            return Profile[profile.upper()]
        except KeyError:
            raise ValueError(f"unknown RIST profile {profile!r} (simple or main)") from None
    return Profile(profile)


class _RistContext:
    """Shared parts of sender and receiver: peers, start, stats, close, context manager."""

    _native: _Native

    def __init__(self, log_level: int | str | None) -> None:
        level = _default_level if log_level is None else _parse_level(log_level)
        self._native = _Native(_to_rist_level(level))
        self._finalizer = weakref.finalize(self, self._native.destroy)
        self._peers: list[RistPeer] = []

    @property
    def closed(self) -> bool:
        return self._native.closed

    @property
    def peers(self) -> tuple[RistPeer, ...]:
        return tuple(self._peers)

    def add_peer(self, url: str) -> RistPeer:
        """Add a peer from a rist:// URL (`@` listens). Parameters are validated, see module doc."""
        pp = _parse_config(url)
        try:
            config = _config_of(pp[0])
            peer_pp = ffi.new("struct rist_peer **")
            with self._native.lock:
                ret = lib.rist_peer_create(self._native.require(), peer_pp, pp[0])
        finally:
            lib.rist_peer_config_free2(pp)
        if ret != 0 or peer_pp[0] == ffi.NULL:
            raise RistError(f"rist_peer_create failed for {url!r} (ret {ret}); see librist log")
        peer = RistPeer(url=url, config=config, _ptr=peer_pp[0], _owner=id(self._native))
        self._peers.append(peer)
        return peer

    def remove_peer(self, peer: RistPeer) -> None:
        """rist_peer_destroy; librist 0.2.7 warns it is 'not fully implemented', so prefer weights."""
        self._check_peer(peer)
        with self._native.lock:
            ret = lib.rist_peer_destroy(self._native.require(), peer._ptr)
        if ret != 0:
            raise RistError(f"rist_peer_destroy failed (ret {ret})")
        self._peers.remove(peer)

    def _check_peer(self, peer: RistPeer) -> None:
        if peer._owner != id(self._native) or peer not in self._peers:
            raise ValueError("peer does not belong to this context")

    def _set_stats(self, callback: Callable[[Any], None] | None, interval_ms: int) -> None:
        if callback is None:
            return
        if interval_ms <= 0:
            raise ValueError("stats interval must be > 0 ms")
        sink = _StatsSink(callback)
        handle = ffi.new_handle(sink)
        with self._native.lock:
            ret = lib.rist_stats_callback_set(
                self._native.require(), interval_ms, lib._bondlab_rist_stats_cb, handle
            )
            if ret != 0:
                raise RistError(f"rist_stats_callback_set failed (ret {ret})")
            self._native.handles.append(handle)

    def start(self) -> None:
        """Start librist's threads; add peers first (librist counts peer weights at start)."""
        with self._native.lock:
            ret = lib.rist_start(self._native.require())
        if ret != 0:
            raise RistError(f"rist_start failed (ret {ret})")

    def close(self) -> None:
        """Stop librist threads and free every C object. Idempotent; safe from any thread."""
        self._finalizer()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RistSender(_RistContext):
    """A librist sender context: one flow, one or more peers.

    `stats_callback` gets a PeerStats per peer per `stats_interval_ms`, on a librist thread (keep it
    quick; exceptions are logged). Several senders in one process are independent.
    """

    def __init__(
        self,
        profile: Profile | str | int = Profile.MAIN,
        *,
        flow_id: int = 0,
        stats_callback: Callable[[PeerStats], None] | None = None,
        stats_interval_ms: int = 1000,
        log_level: int | str | None = None,
        null_packet_deletion: bool = False,
    ) -> None:
        if flow_id % 2:
            raise ValueError("flow_id must be even (librist uses the low bit), or 0 for random")
        super().__init__(log_level)
        self.profile = _as_profile(profile)
        ctx_pp = ffi.new("struct rist_ctx **")
        ret = lib.rist_sender_create(ctx_pp, int(self.profile), flow_id, self._native.log_settings[0])
        if ret != 0 or ctx_pp[0] == ffi.NULL:
            self.close()
            raise RistError(f"rist_sender_create failed (ret {ret})")
        self._native.ctx = ctx_pp[0]
        if null_packet_deletion and lib.rist_sender_npd_enable(ctx_pp[0]) != 0:
            self.close()
            raise RistError("rist_sender_npd_enable failed")
        self.set_stats_callback(stats_callback, stats_interval_ms)

    @property
    def flow_id(self) -> int:
        out = ffi.new("uint32_t *")
        with self._native.lock:
            if lib.rist_sender_flow_id_get(self._native.require(), out) != 0:
                raise RistError("rist_sender_flow_id_get failed")
        return int(out[0])

    def set_stats_callback(
        self, callback: Callable[[PeerStats], None] | None, interval_ms: int = 1000
    ) -> None:
        """Deliver PeerStats to `callback` every `interval_ms` (per authenticated peer)."""
        self._set_stats(callback, interval_ms)

    def set_weight(self, peer: RistPeer, weight: int) -> None:
        """Weight of a peer in librist's multi-peer load balancing (0 = duplicate to it)."""
        if weight < 0:
            raise ValueError("weight must be >= 0")
        self._check_peer(peer)
        with self._native.lock:
            ret = lib.rist_peer_weight_set(self._native.require(), peer._ptr, weight)
        if ret != 0:
            raise RistError(f"rist_peer_weight_set failed (ret {ret})")

    def write(
        self, payload: bytes | bytearray | memoryview, *, seq: int | None = None, ts_ntp: int = 0
    ) -> int:
        """Queue one payload (<= MAX_PAYLOAD bytes); librist copies it. Returns bytes accepted.

        `seq` forces the RTP sequence number (16 bits used), which lets several sender contexts
        carry one numbering; `ts_ntp` 0 lets librist stamp the packet.
        """
        size = len(payload)
        if not 0 < size <= MAX_PAYLOAD:
            raise ValueError(f"payload size {size} outside 1..{MAX_PAYLOAD}")
        buf = ffi.from_buffer(payload)
        native = self._native
        with native.lock:
            ctx = native.require()
            block = native.block
            block.payload = buf
            block.payload_len = size
            block.ts_ntp = ts_ntp
            if seq is None:
                block.flags = 0
                block.seq = 0
            else:
                block.flags = lib.RIST_DATA_FLAGS_USE_SEQ
                block.seq = seq
            ret = lib.rist_sender_data_write(ctx, block)
            block.payload = ffi.NULL
        if ret < 0:
            raise RistError(f"rist_sender_data_write failed (ret {ret})")
        return int(ret)

    def write_burst(
        self,
        seqs: Sequence[int],
        indices: Sequence[int],
        sizes: Sequence[int],
        frame_id: int,
        capture_t: float,
        n_packets: int,
        is_iframe: bool,
        link: int | Sequence[int],
        frame_bytes: int,
    ) -> int:
        """Write packets of one frame in one C call, each with the bonding header of protocol.pack.

        Packet i carries seq `seqs[i]`, index `indices[i]` and is `sizes[i]` bytes (zeros after
        the 42-byte header; up to MAX_PAYLOAD; below 42 the bare header, as protocol.pack); the
        frame's fields are shared. Lists or tuples are cheapest (other sequences are copied).
        `link` is the header's link byte: one for all, or one per packet. write_t is stamped in C
        with CLOCK_MONOTONIC (time.monotonic()) right before each packet goes to librist. Returns
        the packets written; RistError as write() (then the packets before it were written).
        """
        return librist_burst.write_burst(
            self._native, seqs, indices, sizes, frame_id, capture_t, n_packets, is_iframe, link, frame_bytes
        )


@dataclass(frozen=True, slots=True)
class ReceivedBlock:
    """One payload out of the receiver, with librist's metadata (flags: RIST_DATA_FLAGS_*).

    `seq` is the RTP sequence number (16 bits on the wire, wraps at 65536). `peer_token` is the
    address of librist's internal peer that delivered the packet: opaque, but stable for one
    connection, so it tells links apart when several peers feed one receiver.
    """

    payload: bytes
    seq: int
    flow_id: int
    ts_ntp: int
    flags: int
    virt_src_port: int
    virt_dst_port: int
    peer_token: int = 0

    @property
    def discontinuity(self) -> bool:
        """librist flagged a gap before this packet (something was lost for good)."""
        return bool(self.flags & lib.RIST_DATA_FLAGS_DISCONTINUITY)


class RistReceiver(_RistContext):
    """A librist receiver context reading through librist's output FIFO (`read`, `payloads`).

    The recovery buffer is per peer, from the URL: `rist://@127.0.0.1:PORT?buffer=800`.
    `stats_callback` gets a FlowStats per flow per interval, on a librist thread.
    """

    def __init__(
        self,
        profile: Profile | str | int = Profile.MAIN,
        *,
        stats_callback: Callable[[FlowStats], None] | None = None,
        stats_interval_ms: int = 1000,
        log_level: int | str | None = None,
        fifo_size: int | None = None,
    ) -> None:
        super().__init__(log_level)
        self.profile = _as_profile(profile)
        ctx_pp = ffi.new("struct rist_ctx **")
        ret = lib.rist_receiver_create(ctx_pp, int(self.profile), self._native.log_settings[0])
        if ret != 0 or ctx_pp[0] == ffi.NULL:
            self.close()
            raise RistError(f"rist_receiver_create failed (ret {ret})")
        self._native.ctx = ctx_pp[0]
        if fifo_size is not None:
            if fifo_size <= 0 or fifo_size & (fifo_size - 1):
                self.close()
                raise ValueError("fifo_size must be a power of two")
            if lib.rist_receiver_set_output_fifo_size(ctx_pp[0], fifo_size) != 0:
                self.close()
                raise RistError("rist_receiver_set_output_fifo_size failed")
        self.set_stats_callback(stats_callback, stats_interval_ms)

    def set_stats_callback(
        self, callback: Callable[[FlowStats], None] | None, interval_ms: int = 1000
    ) -> None:
        """Deliver FlowStats to `callback` every `interval_ms` (per flow)."""
        self._set_stats(callback, interval_ms)

    def read_block(self, timeout_ms: int = 100) -> ReceivedBlock | None:
        """Next block from librist's output FIFO, waiting up to `timeout_ms`; None on timeout.

        Blocks in C with the GIL released. Returns None as well once the receiver is closed.
        """
        native = self._native
        with native.lock:
            if native.closed:
                return None
            pp = native.block_pp
            pp[0] = ffi.NULL
            ret = lib.rist_receiver_data_read2(native.ctx, pp, timeout_ms)
            if ret < 0:
                raise RistError(f"rist_receiver_data_read2 failed (ret {ret})")
            b = pp[0]
            if ret == 0 or b == ffi.NULL:
                return None
            try:
                return ReceivedBlock(
                    payload=ffi.buffer(b.payload, b.payload_len)[:],
                    seq=b.seq,
                    flow_id=b.flow_id,
                    ts_ntp=b.ts_ntp,
                    flags=b.flags,
                    virt_src_port=b.virt_src_port,
                    virt_dst_port=b.virt_dst_port,
                    peer_token=int(ffi.cast("uintptr_t", b.peer)),
                )
            finally:
                lib.rist_receiver_data_block_free2(pp)

    def read(self, timeout_ms: int = 100) -> bytes | None:
        """Next payload, or None if nothing arrived within `timeout_ms`."""
        block = self.read_block(timeout_ms)
        return None if block is None else block.payload

    def payloads(self, timeout_ms: int = 100, idle_s: float | None = None) -> Iterator[bytes]:
        """Yield payloads until closed, or until nothing arrived for `idle_s` seconds."""
        last = time.monotonic()
        while not self.closed:
            payload = self.read(timeout_ms)
            now = time.monotonic()
            if payload is not None:
                last = now
                yield payload
            elif idle_s is not None and now - last >= idle_s:
                return

    def __iter__(self) -> Iterator[bytes]:
        return self.payloads()


# Last: librist_burst imports this module (RistError) and is imported by RistSender.write_burst.
from bondlab.real import librist_burst  # noqa: E402
