"""The C declarations (cffi cdef) of the librist 0.2.7 binding, as one constant read by _librist_build.py.

Why a module of its own: the declarations are data, a transcription of librist's headers that
changes only with librist, while _librist_build.py is the logic that finds the headers and builds
the module. cffi runs the builder with exec() at install time, outside the bondlab package, so the
builder reads this file by path rather than importing it; keep it free of imports.

The declarations mirror librist 0.2.7 (API 4.2.0) as installed by Debian's librist-dev. Structs
whose layout Python reads (`rist_stats`, `rist_data_block`, `rist_peer_config`, logging settings)
are declared field by field; opaque handles (`rist_ctx`, `rist_peer`) stay opaque. API mode makes
the C compiler check every declaration against /usr/include/librist at build time.
"""

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

/* ---- bondlab's batched writer (C in _librist_build.SOURCE; wrapped by bondlab.real.librist_burst) ---- */
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
