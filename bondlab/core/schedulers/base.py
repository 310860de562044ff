"""The interface every scheduler implements: weights in, one link index per packet out.

Two optional hooks serve schedulers that need more than weights; RR and DWRR have neither, so
their hot path is unchanged (the controller and the loop look the hooks up once):

* `observe(t, links)`: once per stats interval, after `set_weights`, one `LinkFeedback` per link:
  what the feedback a real sender gets says about it, never the sim's link state.
* `begin_frame(now, deadline, is_iframe)`: once before a frame's picks (and before re-sent or
  released packets), so a scheduler can age its queue model and know the playout deadline
  without widening the per-packet `pick(size)`. It returns a link that gets a copy of every
  packet of the frame (redundant sending), or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Scheduler(Protocol):
    """Splits one packet queue over N links.

    `set_weights` is called once per stats interval with one weight per link (0 = do not use);
    `pick` is called per packet and returns a link index, or None when no link may take it.
    """

    n_links: int

    def set_weights(self, weights: Sequence[float]) -> None: ...

    def pick(self, size: int) -> int | None: ...

    def credits(self) -> list[float]:
        """Per-link byte credits (0 for schedulers without credits), for the timeseries."""
        ...


@dataclass(frozen=True, slots=True)
class LinkFeedback:
    """One link as the sender's feedback shows it at a stats tick (payload bytes and bits).

    `backlog_bytes` is the estimator's backlog rule: what the sender gave the link (lagged as
    the receiver's reports are) minus what the reports say arrived, i.e. the queue a new packet
    waits behind. `acked_bytes` is what the reports showed delivered during the interval (srtla's
    ACKs); `retransmitted` the packets resent on the link because the receiver NAKed them.
    """

    rtt_ms: float | None  # librist's smoothed echo RTT (queueing included); None before a reply
    rtt_min_ms: float | None  # its minimum over the estimator's window: the base RTT
    capacity_bps: float  # the estimator's capacity estimate (what steers DWRR's weights)
    delivered_bps: float | None  # smoothed delivery rate from the receiver's reports
    backlog_bytes: float
    acked_bytes: float
    retransmitted: int
    up: bool  # reports still show arrivals on the link
    health: float  # 0..1 from smoothed loss and RTT


class FeedbackScheduler(Scheduler, Protocol):
    """A scheduler that also reads per-link feedback and frame deadlines (see the module doc)."""

    def observe(self, t: float, links: Sequence[LinkFeedback]) -> None: ...

    def begin_frame(self, now: float, deadline: float, is_iframe: bool) -> int | None: ...
