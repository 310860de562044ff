"""cffi builder (API mode) for the librist 0.2.7 binding, run at install time via `cffi_modules`.

Compiling against the real headers (API mode) rather than dlopen-ing the library (ABI mode) makes the
C compiler check every declaration (CDEF, in _librist_cdef.py) against /usr/include/librist, so a
struct layout that drifts between librist releases fails the build instead of corrupting memory at
run time. This file holds the C bondlab adds (SOURCE) and finds the headers and libraries.
"""

from __future__ import annotations

import os
import runpy
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

# Read by path, not imported: cffi exec()s this file outside the bondlab package.
CDEF_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_librist_cdef.py")
CDEF: str = runpy.run_path(CDEF_PATH)["CDEF"]
# The receiver side's batched readers (receiver FIFO, capture socket): C of their own.
_BATCH = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_batch_c.py"))

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
    builder.cdef(CDEF + _BATCH["CDEF"])
    builder.set_source(
        MODULE_NAME,
        SOURCE + _BATCH["SOURCE"],
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
