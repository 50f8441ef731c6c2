"""Peak memory of a stretch of code: GPU memory on CUDA, else the process's resident set,
polled from /proc (tracemalloc does not see torch's allocations)."""

from __future__ import annotations

import os
import resource
import threading

import torch


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """``with PeakMemory(device) as peak: ...`` then ``peak.bytes``."""

    def __init__(self, device: str = "cpu", interval: float = 0.005):
        self.device, self.interval, self.bytes = device, interval, 0
        self._stop = threading.Event()

    def _poll(self):
        while not self._stop.wait(self.interval):
            self.bytes = max(self.bytes, _rss_bytes())

    def __enter__(self):
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        elif os.path.exists("/proc/self/statm"):
            self.bytes = _rss_bytes()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated()
        elif hasattr(self, "_thread"):
            self._stop.set()
            self._thread.join()
            self.bytes = max(self.bytes, _rss_bytes())
        else:  # no /proc: the process's lifetime peak (KiB on Linux)
            self.bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return False

    @property
    def label(self) -> str:
        kind = "GPU max allocated" if self.device.startswith("cuda") else "peak RSS"
        return f"{kind} {self.bytes / 2**20:.0f} MiB"
