"""belacoder's bitrate ladder: RTT and send backlog against the latency, no capacity estimate.

Source: BELABOX belacoder.c, `update_bitrate` (called every 20 ms with SRT's stats). In order:
to the minimum when RTT >= latency/3 or the backlog passes 4 x (its average + jitter); cut by
100 kbps + 10 % when RTT > latency/5 or the backlog passes max(average + 3 jitter, 2 average)
(at most every 250 ms); cut by 100 kbps when RTT > its average + max(4 jitters, 15 %) or the
backlog passes average + 2.5 jitters (every 200 ms); climb by 30 kbps + bitrate/30 when RTT sits
within max(1 ms, 2 jitters) of its minimum and is not rising (every 500 ms). The encoder gets
the bitrate rounded down to 100 kbps.

Assumptions: this sender's stats come every stats interval, not every 20 ms: a tick counts as
interval/20 ms of belacoder's reads in which only the first saw the change (its averages decay
that many times). RTT is the bond's weighted smoothed RTT, the backlog the estimators' backlog
in packets (SRT's send buffer holds what is unacknowledged, which is what they estimate).
belacoder caps the second backlog threshold by RTT_TO_BS(latency/2), whose units are off by
1000 (ms used as s), so it never binds; here it is what the bond sends in half the latency.
"""

from __future__ import annotations

from bondlab.core.rate_control import CongestionControl, RateSignals

READ_S = 0.02  # BITRATE_UPDATE_INT
INCR_MIN, INCR_INT_S, INCR_SCALE = 30_000, 0.5, 30
DECR_MIN, DECR_INT_S, DECR_FAST_INT_S, DECR_SCALE = 100_000, 0.2, 0.25, 10
ROUND_BPS = 100_000


class LadderController:
    reads_signals = True

    def __init__(
        self,
        start_bitrate: int,
        min_bitrate: int,
        max_bitrate: int,
        latency_ms: float,
        packet_bytes: int = 1316,
        headroom: float = 1.1,
    ) -> None:
        self.bitrate = start_bitrate  # what the encoder was last told
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.latency_ms = latency_ms
        self.packet_bytes = packet_bytes
        self.headroom = headroom
        self.internal = float(start_bitrate)  # belacoder's cur_bitrate, before rounding
        self.bs_avg = self.bs_jitter = self.prev_bs = 0.0
        self.rtt_avg = self.rtt_avg_delta = self.rtt_jitter = 0.0
        self.prev_rtt = 300.0
        self.rtt_min = 200.0
        self.next_incr = self.next_decr = float("-inf")

    def _smooth(self, rtt: float, bs: float, reads: float) -> None:
        decay = 0.99**reads
        self.bs_avg = self.bs_avg * decay + bs * (1 - decay)
        self.bs_jitter *= decay
        self.bs_jitter = max(self.bs_jitter, bs - self.prev_bs)
        self.prev_bs = bs
        self.rtt_avg = rtt if self.rtt_avg == 0.0 else self.rtt_avg * decay + rtt * (1 - decay)
        delta = rtt - self.prev_rtt
        self.rtt_avg_delta = (self.rtt_avg_delta * 0.8 + delta * 0.2) * 0.8 ** (reads - 1)
        self.prev_rtt = rtt
        self.rtt_min *= 1.001**reads
        if rtt < self.rtt_min and self.rtt_avg_delta < 1.0:
            self.rtt_min = rtt
        self.rtt_jitter *= decay
        self.rtt_jitter = max(self.rtt_jitter, delta)

    def update(
        self, t: float, total_capacity_bps: float, signals: RateSignals | None = None
    ) -> CongestionControl | None:
        if signals is None or signals.rtt_ms is None:
            return None
        rtt, bs = signals.rtt_ms, signals.backlog_bytes / self.packet_bytes
        self._smooth(rtt, bs, max(signals.interval_s / READ_S, 1.0))
        br = self.internal
        half_latency_pkts = br / 8 * self.latency_ms / 2000 / self.packet_bytes
        bs_th3 = (self.bs_avg + self.bs_jitter) * 4
        bs_th2 = min(max(50.0, self.bs_avg + max(self.bs_jitter * 3, self.bs_avg)), half_latency_pkts)
        bs_th1 = max(50.0, self.bs_avg + self.bs_jitter * 2.5)
        rtt_th_max = self.rtt_avg + max(self.rtt_jitter * 4, self.rtt_avg * 0.15)
        rtt_th_min = self.rtt_min + max(1.0, self.rtt_jitter * 2)
        if br > self.min_bitrate and (rtt >= self.latency_ms / 3 or bs > bs_th3):
            br = self.min_bitrate
            self.next_decr = t + DECR_INT_S
        elif t > self.next_decr and (rtt > self.latency_ms / 5 or bs > bs_th2):
            br -= DECR_MIN + br / DECR_SCALE
            self.next_decr = t + DECR_FAST_INT_S
        elif t > self.next_decr and (rtt > rtt_th_max or bs > bs_th1):
            br -= DECR_MIN
            self.next_decr = t + DECR_INT_S
        elif t > self.next_incr and rtt < rtt_th_min and self.rtt_avg_delta < 0.01:
            br += INCR_MIN + br / INCR_SCALE
            self.next_incr = t + INCR_INT_S
        self.internal = min(max(br, self.min_bitrate), self.max_bitrate)
        rounded = max(int(self.internal) // ROUND_BPS * ROUND_BPS, self.min_bitrate)
        if rounded == self.bitrate:
            return None
        reason = "congestion" if rounded < self.bitrate else "recovery"
        self.bitrate = rounded
        return CongestionControl(t, rounded, total_capacity_bps, reason)
