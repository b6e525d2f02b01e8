"""A private virtual X display (Xvfb) for headless runs: tests, benchmarks, a desktop agent on a server.

``Xvfb -displayfd`` picks a free display number itself and writes it to a pipe once the server accepts
connections, so there is no polling and no race with other Xvfb instances on the machine.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from types import TracebackType

from agent.errors import EnvironmentUnavailable


class Xvfb:
    """A running Xvfb server; ``display`` is its name (":7"). Use as a context manager.

    Args:
        width, height: screen size in pixels.
        depth: bits per pixel (24 gives the 32-bit BGRA frames mss expects).
        timeout: seconds to wait for the server to come up.
        extra_args: more Xvfb arguments (e.g. ``["-dpi", "192"]``).

    RECORD (needed by pynput's listeners) and XTEST (pyautogui, xdotool) are on by default in Xvfb;
    they are named explicitly so a distribution that turns them off still works.
    """

    def __init__(self, width: int = 1280, height: int = 800, depth: int = 24, *, timeout: float = 10.0,
                 extra_args: list[str] | None = None):  # fmt: skip
        exe = shutil.which("Xvfb")
        if exe is None:
            raise EnvironmentUnavailable("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)")
        read_fd, write_fd = os.pipe()
        args = [exe, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x{depth}",
                "-nolisten", "tcp", "-noreset", "+extension", "RECORD", "+extension", "XTEST",
                *(extra_args or [])]  # fmt: skip
        # stderr goes to a file, not a pipe: nobody drains a pipe and a chatty server would block on it
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(args, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=self._log)
        os.close(write_fd)
        self.width, self.height = width, height
        try:
            self.display = ":" + self._read_display(read_fd, timeout)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(read_fd)

    def _read_display(self, fd: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise EnvironmentUnavailable(f"Xvfb did not start within {timeout:g} s")
            chunk = os.read(fd, 64)
            if not chunk:  # the server exited before announcing a display
                self.proc.wait(timeout)
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")
                # the first line that is not a bare "(EE)" marker names the problem
                lines = [ln.strip() for ln in err.splitlines() if ln.strip() not in ("", "(EE)")]
                raise EnvironmentUnavailable(f"Xvfb failed to start: {lines[0] if lines else 'no message'}")
            data += chunk
        return data.decode().strip()

    def close(self) -> None:
        """Stop the server. Idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Xvfb:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
