# Helpers of the fleet tests: the server's side of the fleet contract
# (/tmp/fleet-contract.md) in miniature, releases built from the firmware's
# own files, boots of the whole board through boot.py and main.py, and power
# cuts: a cut abandons the running firmware (its modules and RAM) and the
# next boot imports fresh modules from the flash as the cut left it.
import binascii
import hashlib
import json
import os
import sys

import fw
import sim

SECRET = b"thermowatt test release key 0001"  # 32 bytes


class PowerCut(BaseException):
    """The power went: nothing of the firmware's `except Exception` runs."""


def public_key_b64():
    import ed25519sign
    return binascii.b2a_base64(ed25519sign.public_key(SECRET)[2]).decode().strip()


def sha(data):
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


def canonical(version, files):
    # Written here from the contract's words, not with the firmware's code.
    return ('{"version":"%s","files":[%s]}' % (version, ",".join(
        '{"path":"%s","size":%d,"sha256":"%s"}' % (f["path"], f["size"], f["sha256"]) for f in files))).encode()


class Release:
    def __init__(self, version, contents, signed=True, secret=SECRET):
        self.version = version
        self.contents = contents  # path -> bytes
        self.files = [{"path": p, "size": len(contents[p]), "sha256": sha(contents[p])} for p in sorted(contents)]
        self.signature = None
        if signed:
            import ed25519sign
            sig = ed25519sign.sign(secret, canonical(version, self.files))
            self.signature = binascii.b2a_base64(sig).decode().strip()

    def manifest(self):
        return {"version": self.version, "files": self.files, "signature": self.signature}


def lib_file(name):
    with open("/lib/" + name, "rb") as f:
        return f.read()


def v2_release(**kw):
    """Version 2.0.0: reading.py with a mark the test can see, and a module
    the flashed firmware does not have."""
    return Release("2.0.0", {"lib/reading.py": lib_file("reading.py") + b"\nRELEASE = '2.0.0'\n",
                             "lib/extra.py": b"EXTRA = 2\n"}, **kw)


class FleetServer(fw.FakeServer):
    """POST /api/measurements as fw.FakeServer, with "desired" in its 2xx
    answers, plus the device endpoints of settings and firmware."""

    def __init__(self, token="devtoken"):
        fw.FakeServer.__init__(self, token)
        self.settings_rev = 0
        self.settings = {}
        self.firmware = None  # the version desired
        self.releases = {}
        self.file_gets = []  # (path, Range header)
        self.cut_file_after = None  # (path, bytes): the link dies there once
        self.posts_with_health = []

    def add(self, release):
        self.releases[release.version] = release
        return release

    def handle(self, method, url, headers, body, timeout):
        path = url.split("://", 1)[1].split("/", 1)[1]
        path = "/" + path
        if path == "/api/measurements":
            got = fw.FakeServer.handle(self, method, url, headers, body, timeout)
            if isinstance(got, tuple) and 200 <= got[0] < 300:
                docs = json.loads(body)
                docs = docs if isinstance(docs, list) else [docs]
                dev = docs[-1]["payload"].get("device")
                if dev:
                    self.posts_with_health.append(dev)
                ans = json.loads(got[2])
                ans["desired"] = {"settingsRev": self.settings_rev, "firmware": self.firmware}
                return got[0], got[1], json.dumps(ans)
            return got
        assert method == "GET", (method, path)
        if headers.get("Authorization") != "Bearer " + self.token:
            return 401, {}, '{"error":"unauthorized"}'
        if path == "/api/device/settings":
            return 200, {}, json.dumps({"rev": self.settings_rev, "settings": self.settings})
        pre = "/api/device/firmware/"
        assert path.startswith(pre), path
        rest = path[len(pre):]
        version, _, fpath = rest.partition("/files/")
        rel = self.releases.get(version)
        if rel is None:
            return 404, {}, '{"error":"no such release"}'
        if not fpath:
            return 200, {}, json.dumps(rel.manifest())
        data = rel.contents.get(fpath)
        if data is None:
            return 404, {}, '{"error":"no such file"}'
        rng = headers.get("Range")
        self.file_gets.append((fpath, rng))
        start = int(rng[6:-1]) if rng else 0
        st = 206 if rng else 200
        if self.cut_file_after and self.cut_file_after[0] == fpath:
            n = self.cut_file_after[1]
            self.cut_file_after = None
            # Headers promise the whole rest; the link dies after n bytes.
            head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (st, len(data) - start)
            return head.encode() + data[start:start + n]
        return st, {"Content-Type": "application/octet-stream"}, data[start:]


# -- the board -----------------------------------------------------------------
_SYSTEM = ("fakes", "tests", "dev", "proc", "tmp", "home")
_FAKES = ("sim", "machine", "network", "ntptime", "socket", "tls", "fakedev", "fw", "fleetfw",
          "ed25519sign", "jsbridge")


def forget_firmware():
    """Drop every firmware module, as a reset does: the next import reads
    the files on flash."""
    for name in list(sys.modules):
        m = sys.modules[name]
        f = getattr(m, "__file__", "") or ""
        if f.startswith("/lib/") or name in ("app", "main", "boot"):
            del sys.modules[name]


def boot(server, until_ms=None, cycles=None):
    """Power the board on and run boot.py and main.py until the firmware
    resets the board (returns "reset"), or until uptime until_ms (returns
    "running"). The simulated world (time, Wi-Fi, sensors) goes on."""
    s = sim.SIM
    s.power_cut()
    s.hooks = []
    s.wdt = None
    forget_firmware()
    server.install()
    if until_ms is None:
        until_ms = (cycles or 4) * 300000 + 120000

    def stop():
        raise KeyboardInterrupt
    s.at(until_ms, stop)
    try:
        exec(open("/boot.py").read(), {})
        exec(open("/main.py").read(), {"__name__": "__main__"})
    except PowerCut:
        raise
    except KeyboardInterrupt:
        return "running"
    except SystemExit:
        return "reset"
    raise AssertionError("main.py returned")


def run_until_reset(server, boots=3, **kw):
    outcomes = []
    for _ in range(boots):
        r = boot(server, **kw)
        outcomes.append(r)
        if r == "running":
            break
    return outcomes


def state():
    try:
        with open("/ota/state.json") as f:
            return json.load(f)
    except OSError:
        return {}


def log_text():
    return "\n".join(fw.lines("/log.txt") + fw.lines("/log.txt.1"))


# -- flash snapshots (to run the same update with a cut at each point) ----------
def _walk(path, acc):
    for name in os.listdir(path):
        p = (path.rstrip("/") + "/" + name)
        if path == "/" and name in _SYSTEM:
            continue
        if os.stat(p)[0] & 0x4000:
            acc["dirs"].append(p)
            _walk(p, acc)
        else:
            with open(p, "rb") as f:
                acc["files"][p] = f.read()
    return acc


def snapshot():
    return _walk("/", {"dirs": [], "files": {}})


def restore(snap):
    cur = _walk("/", {"dirs": [], "files": {}})
    for p in cur["files"]:
        os.remove(p)
    for d in sorted(cur["dirs"], key=len, reverse=True):
        os.rmdir(d)
    for d in sorted(snap["dirs"], key=len):
        os.mkdir(d)
    for p, data in snap["files"].items():
        with open(p, "wb") as f:
            f.write(data)


class CutOs:
    """os for the firmware, cutting the power at the nth change to the
    flash (rename, remove, mkdir, rmdir) that `when` accepts, before it or
    (after=True) once it is done."""

    def __init__(self, real, n=1, when=None, after=False):
        self.real = real
        self.n = n
        self.when = when or (lambda what: True)
        self.after = after
        self.count = 0
        self.seen = []

    def _op(self, what, fn, *args):
        hit = False
        if self.when(what):
            self.count += 1
            hit = self.count == self.n
        self.seen.append(what)
        if hit and not self.after:
            raise PowerCut("before " + what)
        r = fn(*args)
        if hit:
            raise PowerCut("after " + what)
        return r

    def rename(self, a, b):
        return self._op("rename %s %s" % (a, b), self.real.rename, a, b)

    def remove(self, p):
        return self._op("remove " + p, self.real.remove, p)

    def mkdir(self, p):
        return self._op("mkdir " + p, self.real.mkdir, p)

    def rmdir(self, p):
        return self._op("rmdir " + p, self.real.rmdir, p)

    def __getattr__(self, name):
        return getattr(self.real, name)


def with_cut(cut, fn, *args, **kw):
    """fn() with the firmware seeing `cut` as its os module (it is imported
    afresh by each boot); returns fn's result, or "cut" after a PowerCut."""
    real = sys.modules.get("os")
    import os as real_os
    sys.modules["os"] = cut
    try:
        return fn(*args, **kw)
    except PowerCut:
        return "cut"
    finally:
        if real is None:
            del sys.modules["os"]
        else:
            sys.modules["os"] = real_os
