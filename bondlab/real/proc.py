"""Start-up shared by the sender and receiver processes: read the run config, log to the raw dir."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from bondlab.real import librist_lib


def start_process(args: list[str], name: str) -> tuple[dict[str, Any], Path]:
    """`CONFIG.json OUT_DIR` -> (config, out dir); logs go to OUT_DIR/<name>.log, not the terminal."""
    config = json.loads(Path(args[0]).read_text())
    out = Path(args[1])
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(out / f"{name}.log")],
    )
    librist_lib.set_log_level(config.get("rist_log_level", "warning"))
    return config, out


def signal_ready(path: Path, text: str) -> None:
    """Create a ready file atomically: the orchestrator polls for it and must never read it half-written."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
