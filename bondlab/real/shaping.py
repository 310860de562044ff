"""Link impairments as `tc` command lines: pure functions, no root, no subprocess.

Layout on one bonded link (a veth pair between the sender and the receiver namespace):

    sender end, egress (the uplink, what librist's data crosses):
      1:    netem  root          delay D [J], loss (random or gemodel), limit NETEM_LIMIT
      10:   htb    parent 1:1    default 1
      10:1  class  htb           rate = ceil = capacity, burst ~10 ms of it
      20:   bfifo  parent 10:1   limit = queue_bytes            (the tail-drop bottleneck queue)
    receiver end, egress (NACKs, RTCP, echo responses and receiver reports back to the sender):
      1:    netem  root          delay D [J], the uplink's loss model (no rate; 100% loss while down)

Why this layout and not `netem rate ... limit <packets>` alone (checked against sch_netem.c and
verified in the VM):

* netem computes each packet's departure time once, at enqueue, from the rate of that moment.
  A rate change only affects packets enqueued afterwards, so a trace window with no delivery
  opportunity (or any deep rate drop) schedules the whole queue at the low rate and the link
  stays stuck long after the trace recovered (measured: 184 packets queued at a floor rate were
  still not sent 3 s later). htb reads its rate at dequeue time: a change applies to the packets
  already queued, within one packet time at the old rate. That is the "fluid rate updated every
  step" the trace replay needs. (tbf is fluid too, but every `tbf` change refills its bucket,
  which adds up to one burst of extra bytes per trace step; `htb class replace` keeps tokens.)
* netem with `rate` never reorders (it schedules each packet after the last queued one), so the
  jitter would turn into head-of-line blocking instead of the sim's reordering. Delay and jitter
  sit in a netem of their own, without a rate.
* netem's `limit` counts packets including those inside the delay line; bfifo's limit is the
  bottleneck queue alone, in bytes, so `queue_bytes` maps directly.
* `tc qdisc replace` of a netem that carries a loss model restarts its Gilbert-Elliott chain in
  the good state. Trace steps only touch the htb class, so they never reset the chain.

Field mapping (scenario -> kernel):

* delay_ms / jitter_ms: `delay <D>us <J>us`. No `distribution`: without it the kernel draws the
  delay uniformly in [D-J, D+J] (the man page's "default is Normal" is not what iproute2 does:
  it loads a table only when `distribution` is given), which is what the sim does too. Negative
  draws are sent at once (delay 0), as in the sim. Jitter acts before the bottleneck here (the
  sim applies it after): when the link is backlogged the queue re-spaces the packets.
* loss: `loss random <P>%`.
* gilbert: `loss gemodel <p> <r> <1-h> <1-k>` with p = p_good_bad, r = p_bad_good,
  1-h = loss probability in the bad state = loss_bad, 1-k = loss probability in the good state =
  loss_good (iproute2 converts 1-h to the kernel's h; the kernel drops in the bad state when
  rand > h). netem has one loss model per qdisc; an independent `loss` on top of a Gilbert chain
  is folded in exactly: loss_state' = 1 - (1 - loss_state) * (1 - loss). netem decides a packet's
  loss in the state before that packet's transition; the sim transitions first (a one-packet
  shift of the same process).
* capacity_bps (or the trace rate of the current step): htb `rate`/`ceil`, in bit/s. Scenario
  byte counts are IP bytes (as in mahimahi); the kernel counts Ethernet frames, 14 bytes more,
  so rates and the queue limit are scaled by (ip + 14) / ip for the encoder's packet size
  (ip = packet_bytes + LIBRIST_IP_OVERHEAD_BYTES). That overhead is measured on the wire
  (bondlab.real.capture: IP total length minus the bonding payload, every data packet of librist
  0.2.7 main profile): IPv4 20 + UDP 8 + GRE 4 (protocol 0x88B6, librist's "reduced" mode) +
  virtual ports 4 + RTP 12 = 48 bytes. The sim adds the same per-packet overhead.
* queue_bytes: bfifo `limit <bytes>` (scaled as above). In packets of 1316 + 48 + 14 = 1378 bytes
  the default 250 kB queue holds 183 full-size packets.
* up: false: the root netem drops every new packet (`loss random 100%`) and the htb rate drops to
  RATE_FLOOR_BPS. Not `ip link set down`: that flushes the qdiscs (losing the configuration and
  the queued packets), removes the connected route so librist's sendto() fails with ENETUNREACH
  instead of seeing a silent black hole, and needs addresses and routes restored afterwards. A
  netem drop is silent (the sender sees success), like a radio blackout. Packets already queued
  wait for the link (the sim's behaviour) except for a trickle at the floor rate (htb cannot
  stop). The reverse path of a down link drops everything as well.
* Reverse direction (receiver end): the uplink's delay, jitter and loss model (random loss or
  Gilbert-Elliott with `loss` folded in, 100% while down), no rate limit and no queue, as in the
  sim. NACKs, RTCP echo responses and the capture's receiver reports are lost like data. The
  reverse netem runs its own Gilbert-Elliott chain: its bad periods are not those of the uplink.

Trace-driven links change only the htb rate, every 100 ms (bondlab.real.trace_replay); a window
without any delivery opportunity runs at RATE_FLOOR_BPS. What this layout reproduces only
approximately is listed per scenario by bondlab.real.shaping_fidelity.check_expressible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bondlab.scenario import GilbertSpec, LinkSpec
from bondlab.timeline import LINK_FIELDS, initial_state
from bondlab.traces import MTU_BYTES
from bondlab.wire import WIRE_OVERHEAD_BYTES

TC = "/usr/sbin/tc"  # full path: inside the VM busybox applets come first on PATH

STEP_S = 0.1  # trace replay granularity
ETH_HEADER_BYTES = 14
# IP bytes per librist data packet beyond the bonding payload, measured on the wire (librist 0.2.7,
# main profile): IPv4 20 + UDP 8 + GRE 4 + reduced-mode virtual ports 4 + RTP 12.
LIBRIST_IP_OVERHEAD_BYTES = WIRE_OVERHEAD_BYTES  # 20 + 8 + 4 + 4 + 12, shared with the sim
IP_UDP_RTP_BYTES = LIBRIST_IP_OVERHEAD_BYTES  # the old name
DEFAULT_PACKET_BYTES = 1316  # EncoderSpec.packet_bytes default (7 MPEG-TS packets)
FRAME_MAX_BYTES = MTU_BYTES + ETH_HEADER_BYTES
RATE_FLOOR_BPS = FRAME_MAX_BYTES * 8 / STEP_S  # one full frame per step: 121.12 kbit/s
MIN_RATE_BPS = 8  # tc rates are whole bytes per second
NETEM_LIMIT = 10_000  # packets held by a delay-only netem (the delay line, not the bottleneck)
BURST_S = 0.01  # htb bucket: 10 ms of the rate (the VM's timers are coarse)
MIN_BURST_BYTES = 1600  # must exceed one full frame
HTB_QUANTUM = FRAME_MAX_BYTES

ROOT = "1:"
BOTTLENECK_PARENT = "1:1"
HTB = "10:"
HTB_CLASS = "10:1"
QUEUE = "20:"


def link_state(link: LinkSpec | Mapping[str, Any]) -> dict[str, Any]:
    """A link's full state as a plain dict (timeline's format): from a LinkSpec or such a dict."""
    if isinstance(link, LinkSpec):
        return initial_state(link)
    state = dict(link)
    missing = [f for f in LINK_FIELDS if f not in state]
    if missing:
        raise ValueError(f"link state lacks {', '.join(missing)}")
    if isinstance(state["gilbert"], GilbertSpec):
        state["gilbert"] = state["gilbert"].model_dump()
    return state


def apply_changes(state: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The state after an event's changed fields (EventSpec.changes()); one capacity source at a time."""
    unknown = sorted(set(changes) - set(LINK_FIELDS))
    if unknown:
        raise ValueError(f"not link fields: {', '.join(unknown)}")
    new = link_state(state)
    new.update(changes)
    if isinstance(new["gilbert"], GilbertSpec):
        new["gilbert"] = new["gilbert"].model_dump()
    if changes.get("capacity_bps") is not None:
        new["trace"] = None
    if changes.get("trace") is not None:
        new["capacity_bps"] = None
        if new.get("trace_offset_s") is None:
            new["trace_offset_s"] = 0.0
    return new


def wire_scale(packet_bytes: int = DEFAULT_PACKET_BYTES) -> float:
    """Factor from IP bytes (scenario) to the Ethernet frame bytes the kernel counts."""
    ip = packet_bytes + IP_UDP_RTP_BYTES
    return (ip + ETH_HEADER_BYTES) / ip


def queue_limit_bytes(queue_bytes: int, packet_bytes: int = DEFAULT_PACKET_BYTES) -> int:
    """bfifo limit for a scenario queue (IP bytes), never below one full frame."""
    return max(FRAME_MAX_BYTES, math.ceil(queue_bytes * wire_scale(packet_bytes)))


def queue_limit_packets(queue_bytes: int, packet_bytes: int = DEFAULT_PACKET_BYTES) -> int:
    """The same queue in full-size packets (packet_bytes + 48 bytes of librist/UDP/IP): for reports."""
    return max(1, queue_bytes // (packet_bytes + IP_UDP_RTP_BYTES))


def _percent(p: float) -> str:
    text = f"{p * 100:.8f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _usec(ms: float) -> str:
    return f"{round(ms * 1000)}us"


def _bits(bps: float) -> str:
    return f"{max(MIN_RATE_BPS, round(bps))}bit"


def delay_args(state: Mapping[str, Any], distribution: str | None = None) -> list[str]:
    args = ["delay", _usec(state["delay_ms"])]
    if state["jitter_ms"] > 0:
        args.append(_usec(state["jitter_ms"]))
        if distribution:
            args += ["distribution", distribution]
    return args


def loss_args(state: Mapping[str, Any]) -> list[str]:
    """netem loss words (both directions): 100% when down, gemodel (with `loss` folded in), or random."""
    if not state["up"]:
        return ["loss", "random", "100%"]
    p = float(state["loss"])
    g = state["gilbert"]
    if g is not None:
        if isinstance(g, GilbertSpec):
            g = g.model_dump()
        loss_bad = 1 - (1 - g["loss_bad"]) * (1 - p)
        loss_good = 1 - (1 - g["loss_good"]) * (1 - p)
        return [
            "loss",
            "gemodel",
            _percent(g["p_good_bad"]),
            _percent(g["p_bad_good"]),
            _percent(loss_bad),
            _percent(loss_good),
        ]
    if p > 0:
        return ["loss", "random", _percent(p)]
    return []


def bottleneck_rate_bps(
    state: Mapping[str, Any], rate_bps: float | None = None, packet_bytes: int = DEFAULT_PACKET_BYTES
) -> int:
    """The htb rate in frame bit/s: capacity_bps, or `rate_bps` (the trace's current window)."""
    if not state["up"]:
        return round(RATE_FLOOR_BPS)
    if state["capacity_bps"] is not None:
        ip_bps = float(state["capacity_bps"])
    elif rate_bps is None:
        raise ValueError(f"trace-driven link ({state['trace']}) needs the current rate_bps")
    elif rate_bps <= 0:
        return round(RATE_FLOOR_BPS)
    else:
        ip_bps = float(rate_bps)
    return max(MIN_RATE_BPS, round(ip_bps * wire_scale(packet_bytes)))


def _root_netem_argv(dev: str, state: Mapping[str, Any], distribution: str | None) -> list[str]:
    """`tc qdisc replace` of a root netem with the link's delay and jitter (both ends share it)."""
    return [
        TC,
        "qdisc",
        "replace",
        "dev",
        dev,
        "root",
        "handle",
        ROOT,
        "netem",
        "limit",
        str(NETEM_LIMIT),
        *delay_args(state, distribution),
    ]


def uplink_netem_argv(dev: str, state: Mapping[str, Any], distribution: str | None = None) -> list[str]:
    """Root netem on the sender end: delay, jitter and loss of the uplink."""
    return [*_root_netem_argv(dev, state, distribution), *loss_args(state)]


def htb_qdisc_argv(dev: str) -> list[str]:
    return [
        TC,
        "qdisc",
        "replace",
        "dev",
        dev,
        "parent",
        BOTTLENECK_PARENT,
        "handle",
        HTB,
        "htb",
        "default",
        HTB_CLASS.split(":")[1],
    ]


def rate_argv(
    dev: str,
    state: Mapping[str, Any],
    rate_bps: float | None = None,
    packet_bytes: int = DEFAULT_PACKET_BYTES,
) -> list[str]:
    """The htb class that sets the bottleneck rate; the one command a trace step issues."""
    bps = bottleneck_rate_bps(state, rate_bps, packet_bytes)
    burst = str(max(MIN_BURST_BYTES, math.ceil(bps * BURST_S / 8)))
    return [
        TC,
        "class",
        "replace",
        "dev",
        dev,
        "parent",
        HTB,
        "classid",
        HTB_CLASS,
        "htb",
        "rate",
        _bits(bps),
        "ceil",
        _bits(bps),
        "burst",
        burst,
        "cburst",
        burst,
        "quantum",
        str(HTB_QUANTUM),
    ]


def queue_argv(dev: str, state: Mapping[str, Any], packet_bytes: int = DEFAULT_PACKET_BYTES) -> list[str]:
    return [
        TC,
        "qdisc",
        "replace",
        "dev",
        dev,
        "parent",
        HTB_CLASS,
        "handle",
        QUEUE,
        "bfifo",
        "limit",
        str(queue_limit_bytes(int(state["queue_bytes"]), packet_bytes)),
    ]


def reverse_netem_argv(dev: str, state: Mapping[str, Any], distribution: str | None = None) -> list[str]:
    """Root netem on the receiver end (NACKs, echoes, receiver reports): the uplink's delay, jitter
    and loss model (random or Gilbert-Elliott, 100% while down), no rate."""
    return [*_root_netem_argv(dev, state, distribution), *loss_args(state)]


def link_argvs(
    link: LinkSpec | Mapping[str, Any],
    sender_dev: str,
    receiver_dev: str,
    *,
    rate_bps: float | None = None,
    packet_bytes: int = DEFAULT_PACKET_BYTES,
    distribution: str | None = None,
) -> list[list[str]]:
    """Every command that sets a link up, in order (the htb tree hangs under the root netem)."""
    state = link_state(link)
    return [
        uplink_netem_argv(sender_dev, state, distribution),
        htb_qdisc_argv(sender_dev),
        rate_argv(sender_dev, state, rate_bps, packet_bytes),
        queue_argv(sender_dev, state, packet_bytes),
        reverse_netem_argv(receiver_dev, state, distribution),
    ]


def _changeable(
    state: Mapping[str, Any],
    sender_dev: str,
    receiver_dev: str,
    rate_bps: float | None,
    packet_bytes: int,
    distribution: str | None,
) -> list[list[str] | None]:
    try:
        rate: list[str] | None = rate_argv(sender_dev, state, rate_bps, packet_bytes)
    except ValueError:
        rate = None  # trace link without a known rate: always re-issue
    return [
        uplink_netem_argv(sender_dev, state, distribution),
        rate,
        queue_argv(sender_dev, state, packet_bytes),
        reverse_netem_argv(receiver_dev, state, distribution),
    ]


def change_argvs(
    state: LinkSpec | Mapping[str, Any],
    changes: Mapping[str, Any],
    sender_dev: str,
    receiver_dev: str,
    *,
    rate_bps: float | None = None,
    packet_bytes: int = DEFAULT_PACKET_BYTES,
    distribution: str | None = None,
) -> tuple[dict[str, Any], list[list[str]]]:
    """Apply an event's changed fields: (new state, only the commands whose arguments change).

    `rate_bps` is the trace's rate at the event time when the link is (or becomes) trace-driven.
    A live change is one `tc ... replace` per affected qdisc/class; queued packets stay queued.
    """
    before = link_state(state)
    after = apply_changes(before, changes)
    old = _changeable(before, sender_dev, receiver_dev, rate_bps, packet_bytes, distribution)
    new = _changeable(after, sender_dev, receiver_dev, rate_bps, packet_bytes, distribution)
    if new[1] is None:
        raise ValueError(f"trace-driven link ({after['trace']}) needs the current rate_bps")
    return after, [n for o, n in zip(old, new, strict=True) if n is not None and n != o]
