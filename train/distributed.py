"""Joining a multi-process (multi-host) run: the settings are checked before JAX starts, a line on stderr says
who is still awaited, and a peer that never comes ends the process with a message and status 2 instead of
JAX's C++ abort."""
from __future__ import annotations

import os
import socket
import sys
import threading
import time

import jax

from zoo.errors import SettingError

# jax.distributed's own deadline comes after ours: when it passes, the C++ client aborts the process (SIGABRT and
# a C++ stack), which Python cannot catch, so the watchdog below must act before it does.
JAX_DEADLINE_MARGIN_S = 60
JOIN_PROGRESS_EVERY_S = 10


def initialize_distributed(coordinator: str, num_processes: int | None, process_id: int | None,
                           timeout_s: int = 300, prog: str = "zoo-train") -> None:
    """Join a multi-process run (multi-host TPU/GPU, or several CPU processes).

    While peers are missing, a line on stderr every 10 s says so; a peer that never shows up ends every process
    after `timeout_s` with a message and exit status 2 instead of waiting forever.
    """
    check_distributed_settings(coordinator, num_processes, process_id, timeout_s)
    watchdog = _JoinWatchdog(coordinator, num_processes, process_id, timeout_s, prog)
    watchdog.start()
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=timeout_s + JAX_DEADLINE_MARGIN_S)
    finally:
        watchdog.stop()


def check_distributed_settings(coordinator: str, num_processes: int | None, process_id: int | None,
                               timeout_s: int) -> tuple[str, int]:
    """(host, port) of `coordinator`, once every setting is one a run can start with."""
    host, sep, port = str(coordinator).rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:1234
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingError(f"--coordinator {coordinator!r} is not HOST:PORT; give the address of process 0's "
                           "machine and a free port on it, the same on every process, e.g. --coordinator "
                           "10.0.0.1:1234")
    if num_processes is None or num_processes < 1:
        got = "none" if num_processes is None else num_processes
        raise SettingError(f"--coordinator needs --num-processes N, how many processes the run has (at least 1), "
                           f"the same on every process; got {got}")
    if process_id is None or not 0 <= process_id < num_processes:
        got = "none" if process_id is None else process_id
        raise SettingError(f"--coordinator needs --process-id I, this process's own number from 0 to "
                           f"{num_processes - 1} (process 0 runs the coordinator at {coordinator}); got {got}")
    if timeout_s < 1:
        raise SettingError(f"--init-timeout must be at least 1 second, got {timeout_s}")
    _check_resolves(host, coordinator)
    return host, int(port)


def _check_resolves(host: str, coordinator: str, wait_s: float = 5.0) -> None:
    """A misspelt host would only show as a timeout minutes later. A lookup that is merely slow is not an error."""
    failure: list[str] = []

    def look_up():
        try:
            socket.getaddrinfo(host, None)
        except socket.gaierror as err:
            failure.append(str(err))

    lookup = threading.Thread(target=look_up, daemon=True)
    lookup.start()
    lookup.join(wait_s)
    if failure:
        raise SettingError(f"--coordinator {coordinator}: no host named {host!r} can be found ({failure[0]}); "
                           "give the name or IP address of process 0's machine")


class _JoinWatchdog:
    """Says on stderr who is still awaited, and ends the process with status 2 when the deadline passes."""

    def __init__(self, address: str, num_processes: int, process_id: int, timeout_s: int, prog: str):
        self.address, self.num_processes, self.process_id = address, num_processes, process_id
        self.timeout_s, self.prog = timeout_s, prog
        self.joined = threading.Event()
        self.lock = threading.Lock()  # joined, or exiting: never both
        self.thread = threading.Thread(target=self._watch, daemon=True, name="zoo-join-watchdog")

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def stop(self) -> None:
        with self.lock:
            self.joined.set()

    def _say(self, line: str) -> None:
        print(f"{self.prog}: {line}", file=sys.stderr, flush=True)

    def _watch(self) -> None:
        while True:
            elapsed = time.monotonic() - self.started
            if elapsed >= self.timeout_s:
                break
            if self.num_processes > 1 or elapsed >= 1:  # a one-process run joins at once: no line
                self._say(f"waiting for {self.num_processes} processes at {self.address} ({elapsed:.0f}s of "
                          f"{self.timeout_s}s; this is process {self.process_id})")
            if self.joined.wait(min(JOIN_PROGRESS_EVERY_S, self.timeout_s - elapsed)):
                return
        with self.lock:
            if self.joined.is_set():
                return
            role = ", which runs the coordinator" if self.process_id == 0 else ""
            self._say(
                f"error: not all {self.num_processes} processes joined at {self.address} within {self.timeout_s}s "
                f"(this is process {self.process_id}{role}). Start every process with the same --coordinator and "
                f"--num-processes and its own --process-id from 0 to {self.num_processes - 1}; check that "
                f"{self.address} is reachable from every machine (process 0 listens there, so the host must be an "
                "address of process 0's machine); or give them longer with --init-timeout SECONDS.")
            os._exit(2)  # the main thread is blocked in C++; only this ends the process before JAX's abort
