# Every decision about trying again lives here: what a server answer means,
# how long to wait after a failure (sends, Wi-Fi rounds, a Wi-Fi error
# status), how often a caller that waits tries at once, how big a batch may
# be after the heap or the server refused one, when a cached server address
# is looked up again, and when repeated failures call for a reconnect or a
# reset, which CA a request tries after another did not verify, and when a
# fleet request (settings, firmware) is tried again. The other modules carry
# these decisions out; they do not make them.
#
# The server's contract decides what a status means:
#   2xx              delivered; readings listed in "rejected" are dead-lettered
#   408, 429, 5xx,   transient: keep the readings, retry after exponential
#   timeout, socket  backoff with jitter (or the server's Retry-After)
#   401, 403, 404,   the device is misconfigured (token, URL, ca_cert): keep
#   TLS certificate  the readings, retry slowly, show the error LED
#   not verified
#   other 4xx        the readings themselves are bad: dead-letter them and go
#                    on, so a poison reading can never block the queue
import random
from micropython import const

SENT = "sent"
RETRY = "retry"
DEAD = "dead"
HELD = "held"  # configuration error (401/403/404, certificate)

_MAX_RETRY_AFTER_S = const(3600)

# A caller that waits for the answer (send_temperature_to_render) tries this
# often, this far apart, before leaving the reading to the queue.
_NOW_ATTEMPTS = const(3)
_NOW_PAUSE_MS = const(1000)

# Wi-Fi: after a full round over all networks failed, wait 5 s * 2^rounds,
# at most 5 min; after the interface reported an error status (wrong
# password, no access point), pause before the next attempt instead of
# hammering the radio.
_WIFI_ROUND_BASE_MS = const(5000)
_WIFI_ROUND_CAP_MS = const(300000)
WIFI_ERROR_PAUSE_MS = const(10000)

# Socket errors in a row (while the interface says connected) before the
# link is dropped and joined again.
NET_FAILS_BEFORE_RECONNECT = const(3)
# Unexpected errors (a bug, MemoryError) without a clean measurement
# interval between them before the board resets itself.
ERRORS_BEFORE_RESET = const(10)
# Sends in a row at a memory-reduced batch size before it doubles again.
_GROW_AFTER = const(3)


def classify(status):
    if 200 <= status <= 299:
        return SENT
    if status in (401, 403, 404):
        return HELD
    if status in (408, 429) or status >= 500:
        return RETRY
    if 400 <= status <= 499:
        return DEAD
    return RETRY  # 1xx/3xx: a redirect lost the POST; treat as transient


def retry_after_s(headers):
    """Seconds from a Retry-After header; None when absent or an HTTP date
    (a device without a set clock cannot trust a date)."""
    v = headers.get("retry-after")
    if v is None:
        return None
    try:
        s = int(v.strip())
    except ValueError:
        return None
    return min(max(s, 0), _MAX_RETRY_AFTER_S)


def attempts(clock, feed):
    """Attempt numbers 1.. for a send whose caller waits: the pause between
    attempts is slept here, the watchdog fed before each."""
    for n in range(1, _NOW_ATTEMPTS + 1):
        if n > 1:
            clock.sleep_ms(_NOW_PAUSE_MS)
        feed()
        yield n


def ca_order():
    """The CA files one request tries, in order, while a CA delivered by a
    release waits beside ca_cert: the new one first (so the switch happens
    at the first send it verifies), then the old one, which keeps the
    readings flowing until the server presents a certificate of the new CA."""
    return ("next", "current")


def fleet_retry_s(failures, cap_s):
    """Pause before the next settings or firmware request after `failures`
    in a row failed: readings come first, so start at a minute, double, and
    never wait longer than the send backoff's cap."""
    return min(cap_s, 60 << min(max(failures, 1) - 1, 10))


def wifi_round_delay_ms(rounds):
    """Pause after `rounds` full rounds over all networks failed."""
    return min(_WIFI_ROUND_CAP_MS, _WIFI_ROUND_BASE_MS << min(rounds, 10))


def refresh_address(failures):
    """Look the server's address up again after this many failed requests
    in a row? A lookup blocks (it has no timeout) and fails during an
    outage, so a known address is reused until it stops working."""
    return failures >= 1


class Backoff:
    """Exponential backoff with "equal jitter" after consecutive failures:
    base * 2^(n-1), at least half of it, never more than the cap."""

    def __init__(self, base_s, cap_s, rand=None):
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self.rand = rand or (lambda: random.getrandbits(16) / 65536)

    def failed(self):
        self.failures += 1

    def succeeded(self):
        self.failures = 0

    def delay_s(self, retry_after=None):
        """Delay before the next attempt after self.failures failures."""
        if retry_after is not None:
            # Honour the server, with a little jitter so a fleet woken by
            # the same 429 does not return in lockstep.
            return retry_after + retry_after * 0.1 * self.rand()
        d = min(self.cap_s, self.base_s * (1 << min(max(self.failures, 1) - 1, 20)))
        return d / 2 + d / 2 * self.rand()


class BatchSize:
    """Readings per POST. A MemoryError while building or sending a batch
    halves it (down to one reading) for the moment; it doubles back after a
    few sends in a row went through. An HTTP 413 lowers the ceiling for good:
    the server will not take more."""

    def __init__(self, n):
        self.ceiling = n
        self.n = n
        self._ok = 0

    def out_of_memory(self):
        """False when already at one reading: nothing left to shrink."""
        self._ok = 0
        if self.n <= 1:
            return False
        self.n //= 2
        return True

    def too_large(self, sent):
        self.ceiling = max(1, sent // 2)
        self.n = min(self.n, self.ceiling)
        self._ok = 0

    def sent(self):
        if self.n < self.ceiling:
            self._ok += 1
            if self._ok >= _GROW_AFTER:
                self._ok = 0
                self.n = min(self.ceiling, self.n * 2)
