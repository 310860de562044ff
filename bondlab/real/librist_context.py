"""What a librist sender and receiver context have in common: C-object lifetimes, peers, stats
registration, start and close.

Why a module of its own: librist calls back (logs, stats) from its own threads, hands out memory
the caller must free, and keeps raw pointers to objects we pass in. This module owns those
lifetimes so the rest of bondlab only sees bytes, dataclasses and `close()`:

- every `ffi.new_handle` and logging-settings struct lives until `rist_destroy` has returned (after
  which librist makes no more callbacks), never shorter;
- `rist_stats_free` is called on every stats container, whatever the user callback does
  (librist_stats);
- user callbacks run on librist threads and may raise: exceptions are logged, never propagated into C.

`RistSender` and `RistReceiver` (librist.py) build on `RistContext`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bondlab.real.librist_lib import Profile, RistError, ffi, lib, live_natives, rist_log_level
from bondlab.real.librist_stats import StatsSink, callback_thread
from bondlab.real.librist_url import PeerConfig, config_of, parse_config


class NativeContext:
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
        live_natives.add(self)

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
        if getattr(callback_thread, "active", False):
            # Called from a librist callback: rist_destroy would join the very thread we are on.
            threading.Thread(target=self._release, args=(ctx,), daemon=True, name="librist-destroy").start()
        else:
            self._release(ctx)

    def _release(self, ctx: Any) -> None:
        if ctx != ffi.NULL:
            lib.rist_destroy(ctx)  # joins librist threads: no callback can run after this
        self.handles.clear()
        live_natives.discard(self)
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


def as_profile(profile: Profile | str | int) -> Profile:
    if isinstance(profile, str):
        try:
            return Profile[profile.upper()]
        except KeyError:
            raise ValueError(f"unknown RIST profile {profile!r} (simple or main)") from None
    return Profile(profile)


class RistContext:
    """Shared parts of sender and receiver: peers, start, stats, close, context manager."""

    _native: NativeContext

    def __init__(self, log_level: int | str | None) -> None:
        self._native = NativeContext(rist_log_level(log_level))
        self._finalizer = weakref.finalize(self, self._native.destroy)
        self._peers: list[RistPeer] = []

    @property
    def closed(self) -> bool:
        return self._native.closed

    @property
    def peers(self) -> tuple[RistPeer, ...]:
        return tuple(self._peers)

    def add_peer(self, url: str) -> RistPeer:
        """Add a peer from a rist:// URL (`@` listens). Parameters are validated, see librist_url."""
        pp = parse_config(url)
        try:
            config = config_of(pp[0])
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
        sink = StatsSink(callback)
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
