"""Peak memory of a benchmark's process: every process of every benchmark must stay under
``RSS_LIMIT_MB`` (issue 18)."""

from __future__ import annotations

import resource
from pathlib import Path

RSS_LIMIT_MB = 300.0  # every process's peak RSS (ru_maxrss), in MB (10^6 bytes)


def rss_mib() -> float:
    """This process's peak RSS so far (``ru_maxrss``), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vmhwm_mib() -> float:
    """The RSS high-water mark of this process image alone (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
