"""A lock on a run directory: `<run>/.lock` holds the PID and host of the process that trains or evaluates it.

A second train.py or evaluate.py on a locked run stops with one line. A lock left by a dead process (same
host, PID no longer alive) is taken over. Processes that the holder starts itself (DDP ranks relaunched by
Lightning, spawned workers) inherit `IIN_RUN_LOCK` and do not lock again.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

from .errors import RunLockedError

log = logging.getLogger("iin")
ENV = "IIN_RUN_LOCK"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Context manager: `with RunLock(run_dir, "train"): ...`; creates run_dir if needed."""

    def __init__(self, root: str | Path, command: str = "train"):
        self.root, self.command = Path(root), command
        self.path = self.root / ".lock"
        self.held = False

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _stale(self, info: dict) -> bool:
        """A lock of a dead process on this host (or an unreadable, empty one older than a minute)."""
        if not info:
            try:
                return time.time() - self.path.stat().st_mtime > 60
            except FileNotFoundError:
                return True
        return info.get("host") == socket.gethostname() and not _alive(int(info.get("pid", -1)))

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                       "since": time.strftime("%Y-%m-%d %H:%M:%S")}, fh)
        return True

    def acquire(self) -> "RunLock":
        if os.environ.get(ENV) == str(self.path.resolve()):
            return self  # our parent holds it
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create():
                self.held = True
                os.environ[ENV] = str(self.path.resolve())
                return self
            info = self._read()
            if not self._stale(info):
                raise RunLockedError(
                    f"run directory {self.root} is in use by {info.get('command', 'another command')} (pid "
                    f"{info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')}); wait for it "
                    f"to finish, or delete {self.path} if that process is gone")
            log.warning("taking over the stale lock %s of a process that no longer runs (%s)", self.path, info)
            self.path.unlink(missing_ok=True)
        raise RunLockedError(f"could not lock run directory {self.root}: {self.path} keeps reappearing")

    def release(self) -> None:
        if self.held:
            if self._read().get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            os.environ.pop(ENV, None)
            self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
