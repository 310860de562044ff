"""The estimator's parameters, each with the reason for its default (core/estimator.py says how
they are used)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class EstimatorParams:
    alpha: float = 0.125  # smoothing of RTT and loss for health: about 8 samples, under a second
    rtt_limit_ms: float = 1000.0  # health 0 at this RTT (scenario's rtt_limit_ms)
    loss_limit: float = 0.2  # health 0 at this loss (scenario's loss_limit)
    probe_gain: float = 0.25  # fractional growth per second while app-limited
    probe_cap: float = 0.5  # estimate may exceed the sent rate by this fraction
    congested_ms: float = 40.0  # queueing delay that means "saturated": ~1/3 of an I-frame's spread
    backoff: float = 0.15  # a cut leaves 15 % of the link's rate spare, enough to drain its queue
    # Receiver reports come every stats interval (100 ms) and echoes every 100 ms: 5 reports in a
    # row without new arrivals is no accident at any loss below ~50 %, and it takes a dead link out
    # within 0.5 s + the last report's way back (+45 ms), inside the playout slack of a frame.
    down_after_s: float = 0.5
    # Its weight falls from half this to 0 at it: one lost report (0.2 s with the way back) costs
    # a little weight, three in a row all of it, and a black hole's data stops well before the
    # down verdict (what is sent into it comes back only as copies, which the others must carry).
    silent_after_s: float | None = 0.3
    cold_start_bps: float = 500_000.0  # a link back from the dead earns its rate from here
    floor_bps: float = 100_000.0  # never estimate below this: a live link keeps a trickle to probe
    rtt_min_window_s: float = 10.0  # base RTT: long enough to span queue cycles, short for handovers
    # A delivery sample spans one report interval, three frames: an I-frame (4 P-frames) in it
    # nearly doubles the rate. An EWMA of 1/10 (about 1 s) averages that away; the max over 3 s
    # keeps the best recent rate after the load moves away.
    delivered_alpha: float = 0.1
    evidence_window_s: float = 3.0
    # Counted capacity may exceed the delivered rate by this much while no queue builds: more than
    # the rate controller's headroom x margin (1.1 x 1.05), so it can still climb, by steps of up
    # to 1.3 / 1.1 = 18 % (from 6 to 11 Mbps in four raises).
    evidence_allowance: float = 0.3
    # Delivered below `overload_ratio` x sent over the last `overload_samples` intervals (1 s,
    # so an I-frame burst falls in both sums), the sent side `report_lag` intervals earlier (the
    # one-way delay plus the report's phase): the link takes less than it is given. A congestion
    # signal that needs no RTT echo and shows from the first second (cold start with equal
    # weights); 1 % loss and the edges of an I-frame stay far above 0.8.
    overload_ratio: float = 0.8
    overload_samples: int = 10
    report_lag: int = 1
    # A saturated link delivers its capacity: the mean of the last `cut_samples` raw delivery
    # samples (0.3 s: the queue that set off the cut kept the link busy for them) bounds the cut.
    cut_samples: int = 3
    # An I-frame queues for ~100 ms even on a half-loaded link; that drains before the next one
    # and is no reason to cut. Only a standing queue is: the smoothed RTT stayed above base +
    # congested_ms x `standing_frac` for the whole last `standing_s` (a queue that does not drain
    # within a second is building, CoDel's rule with librist's sample rate).
    standing_s: float = 1.0
    standing_frac: float = 0.6
    # What a link delivered while congested is its capacity. Until it shows more, the counted
    # capacity stays within this of that ceiling: the allowance above is for climbing, and a link
    # known to saturate at X has nothing to climb to above X.
    ceiling_allowance: float = 0.05
    # The ceiling is stale once the link's smoothed delivery reaches `stale_load` of it while its
    # queue stayed under congested_ms x `stale_queue` for `stale_calm_s` (it queued at that rate
    # before: its capacity rose). A second spans an I-frame's queue and its draining.
    stale_load: float = 0.9
    stale_queue: float = 0.25
    stale_calm_s: float = 1.0
    # What the link was given and has not delivered yet (our count against the receiver's, lagged
    # as reports are) is its backlog; a new packet waits backlog / delivery rate behind it. Echoes
    # wait there too, so only this count shows a queue the moment capacity collapses. The weight
    # falls (raised-cosine) from half `backlog_limit_s` to 0 at it: a packet the link cannot
    # deliver in time goes to another link (the bond sets it from the playout latency).
    backlog_limit_s: float = 0.5
    # Unrepaired loss is never delivered: the count forgets with this time constant, so 1 % of
    # unrepaired loss reads as a few tens of ms of backlog, not a growing one.
    backlog_leak_s: float = 4.0
    # A link given nothing that delivered nothing for this many reports in a row holds nothing: a
    # FIFO with a backlog delivers it. What the count still shows is loss, and over a rate that
    # fell with the idle link it kept the link's weight at 0, so it was given nothing: a real run
    # starved a live 2 Mbps link for 3.3 s that way (the leak alone takes seconds).
    idle_clear_samples: int = 3
    # Weights follow calm: a link's weight falls linearly with its queueing delay, to this share
    # at congested_ms. Two links whose estimates both ride 1.5x their sent rate would otherwise
    # keep any split; this moves load from the link that queues to the one that does not (a
    # capacity that rose), until their queues match. Not lower: an I-frame's queue is no reason
    # to starve a link.
    queue_weight_floor: float = 0.5
    # A link that delivers at least this share of its packet-train rate (core/trains.py) is busy:
    # it carries what its capacity allows, so the queue behind it is the sender's own making.
    busy_ratio: float = 0.8
    # Train rates are smoothed (as inverse rates: the slope is what is measured without bias) over
    # about a second of reports; the probing estimate may climb straight to (1 - backoff) x that.
    train_alpha: float = 0.2
    probe_to_trains: bool = True
    # Reinjected copies count in the backlog of the link they queue on (estimator.on_copies).
    count_copies: bool = True


# The estimator the headroom, ladder and aimd rules were tuned with (before packet trains, the
# silence weight and copies in the backlog): those rules keep it, so their results are unchanged;
# the forecast controller, built on the new evidence, gets the defaults above.
LEGACY: dict[str, Any] = {"silent_after_s": None, "probe_to_trains": False, "count_copies": False}
