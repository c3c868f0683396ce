"""A quick look for the network before a download starts.

Without one, TFDS retries each file for minutes before failing (about 213 s for MNIST), so a run that is
going to fail anyway should fail at once, with a message that says how to get the data without a network.
"""
from __future__ import annotations

import socket
import threading
import urllib.parse
import urllib.request

from zoo.errors import DataError

# TFDS downloads and its prepared-data bucket are on Google Cloud Storage; a machine that reaches it can download.
DOWNLOAD_HOST = ("storage.googleapis.com", 443)
PROBE_TIMEOUT_S = 3.0


class NetworkUnavailableError(DataError):
    """The download host cannot be reached. `reason` is the short account, for callers that add their own fix."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _via_proxy(host: str, port: int) -> tuple[str, int]:
    """The address a download to `host` really connects to: an HTTPS proxy's, when the environment sets one."""
    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(host):
        return host, port
    parsed = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parsed.hostname or host, parsed.port or (443 if parsed.scheme == "https" else 80)


def reachable(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to host:port opens within `timeout_s`, name lookup included (a socket timeout
    does not bound the lookup, which can hang for long on a machine without DNS, hence the thread)."""
    host, port = _via_proxy(host, port)
    opened = threading.Event()

    def connect():
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                opened.set()
        except Exception:  # noqa: BLE001 - whatever stops the connection means "not reachable"
            pass

    probe = threading.Thread(target=connect, daemon=True, name="zoo-network-probe")
    probe.start()
    probe.join(timeout_s)
    return opened.is_set()


def require_network(what: str, how_offline: str) -> None:
    """Raise NetworkUnavailableError, naming `how_offline` as the fix, unless the download host answers."""
    host, port = DOWNLOAD_HOST
    if reachable(host, port):
        return
    reason = (f"no network: {host}:{port} cannot be reached (tried for up to {PROBE_TIMEOUT_S:g} s), so {what} "
              "cannot be downloaded")
    raise NetworkUnavailableError(f"{reason}. Fix: {how_offline}", reason)
