"""One live run per run folder: an advisory lock that the kernel drops when its process dies.

The lock is `fcntl.flock` on OUTPUT/.ptt.lock, held for the run's lifetime by rank 0; the file names the
holder (pid, host, start time, command) and is removed when the run ends. A second process is refused (exit
code 2) naming the holder. A run killed with SIGKILL leaves the file but not the lock (the kernel drops it
with the process), so resuming it is never blocked.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from ptt.errors import PttError

LOCK_FILE = ".ptt.lock"


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None
        self._made_dir = False

    def acquire(self) -> None:
        """Take the lock or raise PttError naming the live holder."""
        self._made_dir = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise PttError(f"--output-dir {self.path.parent}: a run is alive in this folder (held by {holder}); wait "
                           "for it to end, or choose another --output-dir") from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "command": " ".join(sys.argv[:6])}
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock (a run that ends leaves no lock behind); a folder this lock
        created and nothing else wrote to is removed too."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        if self._made_dir and not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
