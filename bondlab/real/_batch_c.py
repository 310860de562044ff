"""C for the two per-packet loops of a real run's receiver side, compiled into the librist cffi
module by _librist_build.py (read by path there: cffi exec()s the builder outside the package).

Why C: in the TCG VM (about 10x slower than the host) the receiver's read loop (one Python object
and one payload copy per librist block) and the capture's (one recvmsg, one parse per packet)
took the CPU the sender needed: runs fell behind real time and the capture socket dropped
packets. Each function here handles a batch per call with the GIL released (cffi releases it
around every call) and fills caller-owned numpy columns; Python then works on whole batches.

bondlab_read_arrivals: drain librist's output FIFO (waiting up to timeout_ms for the first block
only), stamping each block with CLOCK_MONOTONIC as it is read and keeping the bonding header's
seq, frame_id, link and write_t (protocol.py's layout: magic at 0, seq u64 at 4, frame_id u32
at 12, capture_t f64 at 16, write_t f64 at 24, link u8 at 37; big-endian).

bondlab_capture_drain: recvmmsg on a non-blocking AF_PACKET socket (SOCK_DGRAM: the buffer
starts at the IP header) with SO_TIMESTAMPNS; per packet the kernel's receive time (realtime ns),
the IP total length and, if the UDP payload carries the bonding magic (at `hint` past the UDP
header, else searched), seq, frame_id, capture_t, write_t, the magic's offset in the UDP payload
(-1: no header) and the bonding payload's bytes (IP length from the magic on).
"""

CDEF = r"""
/* ---- bondlab's batched readers (C in _batch_c.SOURCE; wrapped by real/receiver.py, real/capture.py) ---- */
#define BONDLAB_SNAP_BYTES ...
#define BONDLAB_CAPTURE_BATCH ...
int bondlab_read_arrivals(struct rist_ctx *ctx, int timeout_ms, size_t max, int64_t *seq,
                          int64_t *frame_id, double *arrival, int16_t *link, double *write_t,
                          int *bad, int *err);
int bondlab_capture_drain(int fd, size_t max, int hint, int64_t *realtime_ns, int32_t *ip_len,
                          int32_t *at, int32_t *payload, int64_t *seq, int64_t *frame_id, double *capture_t,
                          double *write_t, int *err);
"""

SOURCE = r"""
#include <errno.h>
#include <sys/socket.h>

#define BONDLAB_SNAP_BYTES 128
#define BONDLAB_CAPTURE_BATCH 64

static uint64_t bondlab_get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static uint32_t bondlab_get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static double bondlab_get_f64(const uint8_t *p)
{
    uint64_t v = bondlab_get_u64(p);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

/* Returns the number of rows filled; *bad counts blocks without a bonding header, *err is
   librist's negative return if a read failed (rows before it are kept). */
int bondlab_read_arrivals(struct rist_ctx *ctx, int timeout_ms, size_t max, int64_t *seq,
                          int64_t *frame_id, double *arrival, int16_t *link, double *write_t,
                          int *bad, int *err)
{
    size_t n = 0;
    *err = 0;
    while (n < max) {
        struct rist_data_block *b = NULL;
        int ret = rist_receiver_data_read2(ctx, &b, n == 0 ? timeout_ms : 0);
        if (ret < 0) {
            *err = ret;
            break;
        }
        if (ret == 0 || b == NULL)
            break;
        {
            const uint8_t *p = (const uint8_t *)b->payload;
            double now = bondlab_monotonic();
            if (b->payload_len >= BONDLAB_HEADER_BYTES && memcmp(p, "BLB2", 4) == 0) {
                seq[n] = (int64_t)bondlab_get_u64(p + 4);
                frame_id[n] = (int64_t)bondlab_get_u32(p + 12);
                write_t[n] = bondlab_get_f64(p + 24);
                link[n] = p[37];
                arrival[n] = now;
                n++;
            } else {
                (*bad)++;
            }
        }
        rist_receiver_data_block_free2(&b);
    }
    return (int)n;
}

static int bondlab_find_magic(const uint8_t *buf, int from, int to)
{
    int i;
    for (i = from; i + 4 <= to; i++)
        if (buf[i] == 'B' && memcmp(buf + i, "BLB2", 4) == 0)
            return i;
    return -1;
}

/* Returns the number of packets read (0: none queued); *err is errno if recvmmsg failed with
   something other than EAGAIN. */
int bondlab_capture_drain(int fd, size_t max, int hint, int64_t *realtime_ns, int32_t *ip_len,
                          int32_t *at, int32_t *payload, int64_t *seq, int64_t *frame_id, double *capture_t,
                          double *write_t, int *err)
{
    static uint8_t bufs[BONDLAB_CAPTURE_BATCH][BONDLAB_SNAP_BYTES];
    static char ctrl[BONDLAB_CAPTURE_BATCH][CMSG_SPACE(sizeof(struct timespec))];
    struct mmsghdr msgs[BONDLAB_CAPTURE_BATCH];
    struct iovec iovs[BONDLAB_CAPTURE_BATCH];
    size_t total = 0;
    *err = 0;
    while (total < max) {
        unsigned int want = (unsigned int)(max - total < BONDLAB_CAPTURE_BATCH ? max - total
                                                                                 : BONDLAB_CAPTURE_BATCH);
        unsigned int i;
        int got;
        memset(msgs, 0, sizeof(msgs[0]) * want);
        for (i = 0; i < want; i++) {
            iovs[i].iov_base = bufs[i];
            iovs[i].iov_len = BONDLAB_SNAP_BYTES;
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctrl[i];
            msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
        }
        got = recvmmsg(fd, msgs, want, MSG_DONTWAIT, NULL);
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                *err = errno;
            break;
        }
        for (i = 0; i < (unsigned int)got; i++) {
            size_t k = total + i;
            const uint8_t *buf = bufs[i];
            int n = (int)msgs[i].msg_len;
            struct cmsghdr *c;
            int udp, pos;
            if (n > BONDLAB_SNAP_BYTES)
                n = BONDLAB_SNAP_BYTES;
            realtime_ns[k] = -1;
            for (c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    realtime_ns[k] = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
                }
            }
            ip_len[k] = n >= 4 ? (int32_t)((buf[2] << 8) | buf[3]) : 0;
            at[k] = -1;
            if (n < 28 || (buf[0] >> 4) != 4)
                continue;
            udp = (buf[0] & 0x0F) * 4 + 8;
            pos = -1;
            if (hint >= 0 && udp + hint + 4 <= n && memcmp(buf + udp + hint, "BLB2", 4) == 0)
                pos = udp + hint;
            else
                pos = bondlab_find_magic(buf, udp, n);
            if (pos < 0 || pos + 32 > n)
                continue;
            at[k] = pos - udp;
            payload[k] = ip_len[k] - pos;
            seq[k] = (int64_t)bondlab_get_u64(buf + pos + 4);
            frame_id[k] = (int64_t)bondlab_get_u32(buf + pos + 12);
            capture_t[k] = bondlab_get_f64(buf + pos + 16);
            write_t[k] = bondlab_get_f64(buf + pos + 24);
            hint = pos - udp;
        }
        total += (size_t)got;
        if ((unsigned int)got < want)
            break;
    }
    return (int)total;
}
"""
