"""Progress bars for every long job: tqdm on a terminal, one plain line per interval everywhere else.

In CI logs, ``torchrun`` output and ``nohup`` files a carriage-return bar turns into one huge line of
redraws. :class:`tqdm` (a drop-in subclass of ``tqdm.std.tqdm``) draws the usual bar when its stream
is a terminal; otherwise it prints the same status as a new line at most every
``OMNIMASK_PROGRESS_INTERVAL`` seconds (default 30) and once at the end.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from tqdm.std import tqdm as _tqdm

#: Seconds between status lines when the output is not a terminal.
INTERVAL = float(os.environ.get("OMNIMASK_PROGRESS_INTERVAL", "30"))


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class tqdm(_tqdm):
    """``tqdm`` that writes one line per interval to a non-terminal stream (see the module docstring).

    No monitor thread (``monitor_interval = 0``): it would wake every 10 s holding tqdm's lock, and a
    process forked at that moment (DataLoader workers, forked ranks) would start with it held.
    """

    monitor_interval = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lines = not _is_terminal(kwargs.get("file") or sys.stderr)
        self._shown: int | None = None
        self._last = -float("inf")
        self._closing = False
        if self._lines:
            kwargs["mininterval"] = max(float(kwargs.get("mininterval") or 0.0), INTERVAL)
            kwargs["dynamic_ncols"] = False
            kwargs["leave"] = True  # a transient bar would end in a carriage return; keep its last line
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool | None:
        if not self._lines:
            return super().display(msg, pos)
        now = time.monotonic()
        due = self._closing or now - self._last >= INTERVAL  # set_postfix refreshes on every call
        if msg == "" or self.n == self._shown or not due:
            return True
        self._shown, self._last = self.n, now
        self.fp.write(self.__str__() + "\n")
        self.fp.flush()
        return True

    def clear(self, nolock: bool = False) -> None:
        if not self._lines:  # a status line is never erased (tqdm.write would print "\r" first)
            super().clear(nolock)

    def close(self) -> None:
        self._closing = True
        super().close()
