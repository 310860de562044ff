"""The capacity unit both worlds share: bits of IP packets on the wire.

Scenario capacities, trace rates (mahimahi's 1500-byte opportunities are IP packets) and queue
sizes count IP bytes. A data packet carrying `packet_bytes` of bonding payload occupies
`packet_bytes + WIRE_OVERHEAD_BYTES` of them: IPv4 20 + UDP 8 + GRE 4 + port header 4 + RTP 12,
the headers librist 0.2.7's main profile puts in front of each payload (udp.c; DEVELOPERS.md). The sim serves
each packet at that size; the real backend scales htb to the Ethernet frames the kernel counts.
"""

from __future__ import annotations

WIRE_OVERHEAD_BYTES = 20 + 8 + 4 + 4 + 12
ECHO_BYTES = 20 + 8 + 4 + 4 + 24  # IP, UDP, GRE, ports, RTCP echo (header + timestamps)
