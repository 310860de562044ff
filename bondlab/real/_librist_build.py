"""cffi builder (API mode) for the librist 0.2.7 binding, run at install time via `cffi_modules`.

Compiling against the real headers (API mode) rather than dlopen-ing the library (ABI mode) makes the
C compiler check every declaration below against /usr/include/librist, so a struct layout that drifts
between librist releases fails the build instead of corrupting memory at run time.

The declarations mirror librist 0.2.7 (API 4.2.0) as installed by Debian's librist-dev. Structs
whose layout Python reads (`rist_stats`, `rist_data_block`, `rist_peer_config`, logging settings)
are declared field by field; opaque handles (`rist_ctx`, `rist_peer`) stay opaque.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from cffi import FFI

MODULE_NAME = "bondlab.real._librist_cffi"
HEADER = "librist/librist.h"
MISSING_MESSAGE = (
    "librist headers not found ({header}). bondlab's real-network backend binds librist 0.2.7 "
    "through cffi and needs its development files at build time: "
    "`apt-get install -y librist-dev` (Debian/Ubuntu), then reinstall bondlab: pip install -e ."
)

CDEF = r"""
/* ---- headers.h ---- */
#define RIST_MAX_STRING_SHORT 128
#define RIST_MAX_STRING_LONG 256

#define RIST_ERR_MALLOC ...
#define RIST_ERR_NULL_PEER ...
#define RIST_ERR_INVALID_STRING_LENGTH ...
#define RIST_ERR_INVALID_PROFILE ...
#define RIST_ERR_MISSING_CALLBACK_FUNCTION ...
#define RIST_ERR_NULL_CREDENTIALS ...

enum rist_profile {
    RIST_PROFILE_SIMPLE = 0,
    RIST_PROFILE_MAIN = 1,
    RIST_PROFILE_ADVANCED = 2,
};

enum rist_data_block_sender_flags {
    RIST_DATA_FLAGS_USE_SEQ = 1,
    RIST_DATA_FLAGS_NEED_FREE = 2
};

enum rist_data_block_receiver_flags {
    RIST_DATA_FLAGS_DISCONTINUITY = 1,
    RIST_DATA_FLAGS_FLOW_BUFFER_START = 2,
    RIST_DATA_FLAGS_OVERFLOW = 4
};

struct rist_ctx;
struct rist_peer;
struct rist_ref;

struct rist_data_block {
    const void *payload;
    size_t payload_len;
    uint64_t ts_ntp;
    uint16_t virt_src_port;
    uint16_t virt_dst_port;
    struct rist_peer *peer;
    uint32_t flow_id;
    uint64_t seq;
    uint32_t flags;
    struct rist_ref *ref;
};

/* ---- logging.h ---- */
enum rist_log_level {
    RIST_LOG_DISABLE = -1,
    RIST_LOG_ERROR = 3,
    RIST_LOG_WARN = 4,
    RIST_LOG_NOTICE = 5,
    RIST_LOG_INFO = 6,
    RIST_LOG_DEBUG = 7,
    RIST_LOG_SIMULATE = 100,
};

struct rist_logging_settings {
    enum rist_log_level log_level;
    int (*log_cb)(void *arg, enum rist_log_level, const char *msg);
    void *log_cb_arg;
    int log_socket;
    FILE *log_stream;
};

int rist_logging_set(struct rist_logging_settings **logging_settings, enum rist_log_level log_level,
                     int (*log_cb)(void *arg, enum rist_log_level, const char *msg), void *cb_arg,
                     char *address, FILE *logfp);
int rist_logging_set_global(struct rist_logging_settings *logging_settings);
void rist_logging_unset_global(void);
int rist_logging_settings_free2(struct rist_logging_settings **logging_settings);

/* ---- peer.h ---- */
#define RIST_DEFAULT_VIRT_SRC_PORT 1971
#define RIST_DEFAULT_VIRT_DST_PORT 1968
#define RIST_DEFAULT_RECOVERY_LENGHT_MIN 1000
#define RIST_DEFAULT_RECOVERY_LENGHT_MAX 1000
#define RIST_DEFAULT_RECOVERY_RTT_MIN 50
#define RIST_DEFAULT_RECOVERY_RTT_MAX 500
#define RIST_DEFAULT_SESSION_TIMEOUT 2000
#define RIST_DEFAULT_KEEPALIVE_INTERVAL 1000
#define RIST_PEER_CONFIG_VERSION 0

enum rist_timing_mode {
    RIST_TIMING_MODE_SOURCE = 0,
    RIST_TIMING_MODE_ARRIVAL = 1,
    RIST_TIMING_MODE_RTC = 2
};

enum rist_recovery_mode {
    RIST_RECOVERY_MODE_UNCONFIGURED = 0,
    RIST_RECOVERY_MODE_DISABLED = 1,
    RIST_RECOVERY_MODE_TIME = 2,
};

enum rist_congestion_control_mode {
    RIST_CONGESTION_CONTROL_MODE_OFF = 0,
    RIST_CONGESTION_CONTROL_MODE_NORMAL = 1,
    RIST_CONGESTION_CONTROL_MODE_AGGRESSIVE = 2
};

struct rist_peer_config {
    int version;
    int address_family;
    int initiate_conn;
    char address[256];
    char miface[128];
    uint16_t physical_port;
    uint16_t virt_dst_port;
    enum rist_recovery_mode recovery_mode;
    uint32_t recovery_maxbitrate;
    uint32_t recovery_maxbitrate_return;
    uint32_t recovery_length_min;
    uint32_t recovery_length_max;
    uint32_t recovery_reorder_buffer;
    uint32_t recovery_rtt_min;
    uint32_t recovery_rtt_max;
    uint32_t weight;
    char secret[128];
    int key_size;
    uint32_t key_rotation;
    int compression;
    char cname[128];
    enum rist_congestion_control_mode congestion_control_mode;
    uint32_t min_retries;
    uint32_t max_retries;
    uint32_t session_timeout;
    uint32_t keepalive_interval;
    uint32_t timing_mode;
    char srp_username[256];
    char srp_password[256];
};

int rist_peer_config_defaults_set(struct rist_peer_config *peer_config);
int rist_parse_address2(const char *url, struct rist_peer_config **peer_config);
int rist_peer_config_free2(struct rist_peer_config **peer_config);
int rist_peer_create(struct rist_ctx *ctx, struct rist_peer **peer, const struct rist_peer_config *config);
int rist_peer_destroy(struct rist_ctx *ctx, struct rist_peer *peer);
int rist_peer_weight_set(struct rist_ctx *ctx, struct rist_peer *peer, const uint32_t weight);

enum rist_connection_status {
    RIST_CONNECTION_ESTABLISHED = 0,
    RIST_CONNECTION_TIMED_OUT = 1,
    RIST_CLIENT_CONNECTED = 2,
    RIST_CLIENT_TIMED_OUT = 3
};
typedef void (*connection_status_callback_t)(void *arg, struct rist_peer *peer,
                                             enum rist_connection_status peer_connection_status);
int rist_connection_status_callback_set(struct rist_ctx *ctx, connection_status_callback_t, void *arg);

/* ---- sender.h ---- */
uint32_t rist_flow_id_create(void);
int rist_sender_create(struct rist_ctx **ctx, enum rist_profile profile, uint32_t flow_id,
                       struct rist_logging_settings *logging_settings);
int rist_sender_npd_enable(struct rist_ctx *ctx);
int rist_sender_npd_disable(struct rist_ctx *ctx);
int rist_sender_flow_id_get(struct rist_ctx *ctx, uint32_t *flow_id);
int rist_sender_flow_id_set(struct rist_ctx *ctx, uint32_t flow_id);
int rist_sender_data_write(struct rist_ctx *ctx, const struct rist_data_block *data_block);

/* ---- receiver.h ---- */
enum rist_nack_type {
    RIST_NACK_RANGE = 0,
    RIST_NACK_BITMASK = 1,
};
int rist_receiver_create(struct rist_ctx **ctx, enum rist_profile profile,
                         struct rist_logging_settings *logging_settings);
int rist_receiver_nack_type_set(struct rist_ctx *ctx, enum rist_nack_type nacks_type);
int rist_receiver_set_output_fifo_size(struct rist_ctx *ctx, uint32_t desired_size);
int rist_receiver_data_read2(struct rist_ctx *ctx, struct rist_data_block **data_block, int timeout);
void rist_receiver_data_block_free2(struct rist_data_block **block);

/* ---- stats.h ---- */
struct rist_stats_sender_peer {
    char cname[128];
    uint32_t peer_id;
    size_t bandwidth;
    size_t retry_bandwidth;
    uint64_t sent;
    uint64_t received;
    uint64_t retransmitted;
    double quality;
    uint32_t rtt;
};

struct rist_stats_receiver_flow {
    uint32_t peer_count;
    char cname[256];
    uint32_t flow_id;
    int status;
    size_t bandwidth;
    size_t retry_bandwidth;
    uint64_t sent;
    uint64_t received;
    uint32_t missing;
    uint32_t reordered;
    uint32_t recovered;
    uint32_t recovered_one_retry;
    uint32_t lost;
    double quality;
    uint64_t min_inter_packet_spacing;
    uint64_t cur_inter_packet_spacing;
    uint64_t max_inter_packet_spacing;
    uint32_t rtt;
};

enum rist_stats_type {
    RIST_STATS_SENDER_PEER,
    RIST_STATS_RECEIVER_FLOW
};

#define RIST_STATS_VERSION 0

struct rist_stats {
    uint32_t json_size;
    char *stats_json;
    uint16_t version;
    enum rist_stats_type stats_type;
    union {
        struct rist_stats_sender_peer sender_peer;
        struct rist_stats_receiver_flow receiver_flow;
    } stats;
};

int rist_stats_callback_set(struct rist_ctx *ctx, int statsinterval,
                            int (*stats_cb)(void *arg, const struct rist_stats *stats_container), void *arg);
int rist_stats_free(const struct rist_stats *stats_container);

/* ---- librist.h ---- */
int rist_jitter_max_set(struct rist_ctx *ctx, int t);
int rist_start(struct rist_ctx *ctx);
int rist_destroy(struct rist_ctx *ctx);
const char *librist_version(void);
const char *librist_api_version(void);

/* ---- version.h ---- */
#define LIBRIST_API_VERSION_MAJOR ...
#define LIBRIST_API_VERSION_MINOR ...
#define LIBRIST_API_VERSION_PATCH ...

/* ---- bondlab's batched writer (C below, in SOURCE; wrapped by bondlab.real.librist_burst) ---- */
#define BONDLAB_HEADER_BYTES ...
#define BONDLAB_MAX_PAYLOAD ...
#define BONDLAB_ERR_SIZE ...
int bondlab_write_burst(struct rist_ctx *ctx, uint8_t *buf, size_t count, const uint64_t *seqs,
                        const uint16_t *indices, const uint32_t *sizes, const uint8_t *links,
                        uint8_t link, uint32_t frame_id, double capture_t, uint16_t n_packets,
                        uint8_t flags, uint32_t frame_bytes, int *err);
double bondlab_monotonic(void);

/* ---- Python callbacks, @ffi.def_extern in bondlab.real.librist_lib (log), librist_stats (stats) ---- */
extern "Python" int _bondlab_rist_log_cb(void *arg, enum rist_log_level level, const char *msg);
extern "Python" int _bondlab_rist_stats_cb(void *arg, const struct rist_stats *stats_container);
"""

# The librist headers, plus bondlab's batched writer: one call writes a frame's packets (or one
# link's share of them), each with the bonding header of bondlab/real/protocol.py built here,
# byte for byte: struct "!4sQIddHHBBI" (magic "BLB2", seq u64, frame_id u32, capture_t f64,
# write_t f64, n_packets u16, index u16, flags u8, link u8, frame_bytes u32; big-endian, 42
# bytes), then zeros up to the packet size (a size below 42 sends the bare header, as pack does).
# write_t is CLOCK_MONOTONIC (time.monotonic()'s clock) read just before each packet's
# rist_sender_data_write. `buf` is the caller's zeroed buffer of BONDLAB_MAX_PAYLOAD bytes: only
# its first 42 bytes are ever written, so the padding stays zero; librist copies each payload.
SOURCE = r"""
#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <librist/librist.h>
#include <librist/version.h>

#define BONDLAB_HEADER_BYTES 42
#define BONDLAB_MAX_PAYLOAD (10000 - 32) /* RIST_MAX_PACKET_SIZE less GRE + RTP headers */
#define BONDLAB_ERR_SIZE (-1000000)      /* a size outside 0..BONDLAB_MAX_PAYLOAD */

/* As CPython's time.monotonic(): integer nanoseconds, then one division. */
double bondlab_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)((int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec) / 1e9;
}

static void bondlab_put_u64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static void bondlab_put_u32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void bondlab_put_u16(uint8_t *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static void bondlab_put_f64(uint8_t *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    bondlab_put_u64(p, v);
}

/* Writes packets 0..count-1; returns how many librist accepted. *err is 0, BONDLAB_ERR_SIZE
   (nothing written) or librist's negative return for the packet at the returned index. */
int bondlab_write_burst(struct rist_ctx *ctx, uint8_t *buf, size_t count, const uint64_t *seqs,
                        const uint16_t *indices, const uint32_t *sizes, const uint8_t *links,
                        uint8_t link, uint32_t frame_id, double capture_t, uint16_t n_packets,
                        uint8_t flags, uint32_t frame_bytes, int *err)
{
    struct rist_data_block block;
    size_t i;
    *err = 0;
    for (i = 0; i < count; i++) {
        if (sizes[i] > BONDLAB_MAX_PAYLOAD) {
            *err = BONDLAB_ERR_SIZE;
            return 0;
        }
    }
    memcpy(buf, "BLB2", 4);
    bondlab_put_u32(buf + 12, frame_id);
    bondlab_put_f64(buf + 16, capture_t);
    bondlab_put_u16(buf + 32, n_packets);
    buf[36] = flags;
    buf[37] = link;
    bondlab_put_u32(buf + 38, frame_bytes);
    memset(&block, 0, sizeof(block));
    block.payload = buf;
    for (i = 0; i < count; i++) {
        int ret;
        bondlab_put_u64(buf + 4, seqs[i]);
        bondlab_put_u16(buf + 34, indices[i]);
        if (links != NULL)
            buf[37] = links[i];
        block.payload_len = sizes[i] > BONDLAB_HEADER_BYTES ? sizes[i] : BONDLAB_HEADER_BYTES;
        bondlab_put_f64(buf + 24, bondlab_monotonic());
        ret = rist_sender_data_write(ctx, &block);
        if (ret < 0) {
            *err = ret;
            return (int)i;
        }
    }
    return (int)count;
}
"""


def _pkg_config(*args: str) -> list[str]:
    """Flags from `pkg-config ARGS librist`, or [] when pkg-config or librist.pc is absent."""
    if shutil.which("pkg-config") is None:
        return []
    try:
        out = subprocess.run(
            ["pkg-config", *args, "librist"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return shlex.split(out)


def _include_dirs() -> list[str]:
    """Extra include dirs: pkg-config's, for a librist installed outside /usr (e.g. /usr/local)."""
    return [flag[2:] for flag in _pkg_config("--cflags-only-I") if flag.startswith("-I")]


def _library_dirs() -> list[str]:
    return [flag[2:] for flag in _pkg_config("--libs-only-L") if flag.startswith("-L")]


def _header_found(include_dirs: list[str]) -> bool:
    """Fail early with a readable message rather than a compiler 'No such file' wall of text."""
    candidates = list(include_dirs)
    for var in ("CPATH", "C_INCLUDE_PATH"):
        candidates += [d for d in os.environ.get(var, "").split(os.pathsep) if d]
    candidates += ["/usr/local/include", "/usr/include"]
    return any(os.path.isfile(os.path.join(d, HEADER)) for d in candidates)


def make_builder() -> FFI:
    include_dirs = _include_dirs()
    if not _header_found(include_dirs):
        raise RuntimeError(MISSING_MESSAGE.format(header=HEADER))
    builder = FFI()
    builder.cdef(CDEF)
    builder.set_source(
        MODULE_NAME,
        SOURCE,
        libraries=["rist"],
        include_dirs=include_dirs,
        library_dirs=_library_dirs(),
    )
    return builder


ffibuilder = make_builder()


if __name__ == "__main__":
    # Manual build for development: python bondlab/real/_librist_build.py (writes next to this file
    # when run from the project root).
    ffibuilder.compile(verbose=True)
