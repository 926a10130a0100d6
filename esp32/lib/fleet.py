# Changes the server asks for in its answers ("desired": settingsRev,
# firmware), carried out one HTTP request per call of step(), so that the
# loop keeps its measurement schedule:
#   settings  GET /api/device/settings, checked by config.py's rules, kept
#             in /settings.json (temp file + rename), applied by the app
#   firmware  GET /api/device/firmware/V (the manifest: sizes, sha256, an
#             Ed25519 signature), then each file, streamed to /ota/V/ in
#             small pieces and resumed with Range after a reset; every file
#             is hashed from flash; when all are there the marker /ota/next
#             is written last and the board resets into ota_boot's switch.
# The app imports this module only when the server wants a change.
import binascii
import gc
import hashlib
import json
import os

import ota_boot
import retry
from fsutil import makedirs, replace

REFUSED = "refused"
REBOOT = "reboot"

_MARGIN_BYTES = 16384  # flash kept free beyond a release: logs, queue, CSV
_CHUNK = 512
_MAX_MANIFEST = 8192  # about 65 files: more than a release of this firmware holds
_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+"


class _TooBig(Exception):
    """The server sends more bytes than the manifest's size."""


class _Later(Exception):
    """A download stops to leave time for the next measurement; the part on
    flash is resumed next time."""


def _safe(s, extra=""):
    return isinstance(s, str) and s and all(c in _SAFE or c in extra for c in s) and ".." not in s


def allowed_path(p):
    """A release may hold modules in lib/ and the server's CA (ca.pem):
    never main.py, boot.py, config.json or ota_boot, the code that puts a
    failed release's files back, nor a module the rollback imports (json
    and os, which a file in lib/ may extend or replace, gc, sys, time,
    machine). Refused by name before the first '.', in any case
    (ota_boot.mpy imports as readily as .py), as the server's
    DeviceTakesPath does."""
    if p == "ca.pem":
        return True
    if not _safe(p, "/") or not p.startswith("lib/") or "/" in p[4:]:
        return False
    name = p[4:]
    if name.split(".")[0].lower() in ("ota_boot", "json", "os", "gc", "sys", "time", "machine"):
        return False
    return name.endswith(".py") or name.endswith(".mpy")


def canonical(man, put=None):
    """The bytes the release signature covers (contract item 5): version and
    files sorted by path, keys in this order, no spaces. With put, they are
    handed to put() piece by piece instead (the signature check hashes them
    as they come, without holding them)."""
    if put is None:
        parts = []
        canonical(man, lambda b: parts.append(b))
        return b"".join(parts)
    put(b'{"version":' + json.dumps(man["version"]).encode() + b',"files":[')
    first = True
    for f in man["files"]:
        put(('%s{"path":%s,"size":%d,"sha256":%s}' % (
            "" if first else ",", json.dumps(f["path"]), f["size"], json.dumps(f["sha256"]))).encode())
        first = False
    put(b"]}")


def check_manifest(man, version, public_key):
    """None when the manifest is well formed, names `version` and (with a
    public key) carries a valid signature; else what is wrong."""
    if not isinstance(man, dict) or man.get("version") != version or not _safe(version):
        return "manifest is not for version %s" % version
    files = man.get("files")
    if not isinstance(files, list) or not files:
        return "manifest lists no files"
    last = ""
    for f in files:
        p = f.get("path") if isinstance(f, dict) else None
        if not allowed_path(p):
            return "release may not contain %r (only lib/*.py, lib/*.mpy, ca.pem)" % (p,)
        if p <= last:
            return "manifest files are not sorted by path"
        last = p
        size, h = f.get("size"), f.get("sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return "bad size for %s" % p
        if not isinstance(h, str) or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
            return "bad sha256 for %s" % p
    if public_key is None:
        return None
    sig = man.get("signature")
    if not isinstance(sig, str):
        return "release is not signed, and ota_public_key requires a signature"
    try:
        sig = binascii.a2b_base64(sig.encode())
        key = binascii.a2b_base64(public_key.encode())
    except ValueError:
        return "signature is not base64"
    import sys
    import ed25519
    try:
        ok = ed25519.verify(key, lambda put: canonical(man, put), sig)
    finally:
        # About 4 KB of code needed once per release.
        del ed25519
        sys.modules.pop("ed25519", None)
        sys.modules.pop("sha512", None)
        gc.collect()
    return None if ok else "signature does not verify with ota_public_key"


def sha256_file(path):
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return binascii.hexlify(h.digest()).decode()


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def free_bytes(root):
    st = os.statvfs(root)
    return st[0] * st[4]  # f_bsize * f_bavail


def step(app, until_ms):
    """One step of what the server's last answer asks of app (app.App):
    settings fetched and applied, or one request of a firmware update.
    Returns REBOOT, the update record to report, or None. What Fleet keeps
    between steps lives in app.fleet_memo, as this module is dropped after
    each step."""
    d = app.uplink.desired
    f = Fleet(app.cfg, app.clock, app.log, app.uplink.http, app.uplink.headers, app.root, app.version, app.local)
    f.failures, f.next_try_ms, f.refused_rev, f.settings_error = app.fleet_memo
    try:
        if not f.wants_settings(d, app.settings_rev):
            return f.firmware_step(d["firmware"], app.feed, until_ms)
        try:
            got = f.fetch_settings(app.feed)
        except MemoryError:
            gc.collect()
            f._failed("settings: out of memory (%d bytes free after collecting)" % gc.mem_free())
            got = None
        if got:
            app.settings_rev = got[0]
            app.apply_settings(got[1])
            app.log.info("settings rev %d applied: interval %ds, batch %d" % (
                got[0], app.cfg["interval_s"], app.cfg["batch_size"]))
        return None
    finally:
        app.fleet_memo = (f.failures, f.next_try_ms, f.refused_rev, f.settings_error)


class Fleet:
    def __init__(self, cfg, clock, log, http, headers, root="/", version=None, local=None):
        self.cfg = cfg
        self.local = local or {}  # config.json's values of the settings keys
        self.clock = clock
        self.log = log
        self.http = http
        self.headers = headers
        self.root = root
        self.version = version
        self.failures = 0
        self.next_try_ms = 0
        self.refused_rev = None  # a settings revision that failed the checks
        self.settings_error = None

    def due(self, up_ms):
        return up_ms >= self.next_try_ms

    def _failed(self, what):
        self.failures += 1
        delay = retry.fleet_retry_s(self.failures, self.cfg["backoff_cap_s"])
        self.next_try_ms = self.clock.uptime_ms() + delay * 1000
        self.log.warn("%s; retry in %ds" % (what, delay))

    def _get(self, path, sink=None, extra=None):
        h = self.headers
        if extra:
            h = dict(h)
            h.update(extra)
        return self.http.get(self.cfg["base_url"] + path, h, self.cfg["http_timeout_s"], sink)

    # -- what is wanted ------------------------------------------------------
    def wants_settings(self, desired, applied_rev):
        rev = desired.get("settingsRev") if desired else None
        return isinstance(rev, int) and rev != applied_rev and rev != self.refused_rev and rev > 0

    # -- settings ------------------------------------------------------------
    def fetch_settings(self, feed):
        """(rev, merged cfg) to apply, or None (failed, refused or later)."""
        feed()
        try:
            status, _, text = self._get("/api/device/settings")
        except OSError as e:
            self._failed("settings: %s" % e)
            return None
        if status != 200:
            self._failed("settings: HTTP %d" % status)
            return None
        try:
            doc = json.loads(text)
            rev, settings = doc["rev"], doc["settings"]
        except (ValueError, KeyError, TypeError):
            self._failed("settings: the answer is not {\"rev\", \"settings\"}")
            return None
        self.failures = 0
        # The server's settings go over config.json's values, not over the
        # ones it set before: a key it no longer sets goes back to
        # config.json's value (as it does at the next start).
        base = dict(self.cfg)
        base.update(self.local)
        merged, problems = _check(base, settings)
        if problems or not isinstance(rev, int):
            self.refused_rev = rev
            self.settings_error = "settings rev %s refused: %s" % (rev, "; ".join(problems) or "rev is not an integer")
            self.log.error(self.settings_error)
            return None
        tmp = self.root + "settings.json.tmp"
        with open(tmp, "w") as f:
            json.dump({"rev": rev, "settings": settings}, f)
        replace(tmp, self.root + "settings.json")
        self.settings_error = None
        return rev, merged

    # -- firmware ------------------------------------------------------------
    def _ota(self, name=""):
        return self.root + "ota/" + name

    def _refuse(self, v, reason):
        self.log.error("firmware %s refused: %s" % (v, reason))
        ota_boot.rmtree(self._ota(v))
        try:
            os.remove(self._ota(v + ".json"))
        except OSError:
            pass
        update = {"state": "refused", "version": v, "reason": reason}
        ota_boot.set_update(update, self.root)
        return update

    def firmware_step(self, v, feed, until_ms):
        """One step towards running version v. Returns the new update
        record, REBOOT when the release is staged and marked, or None.
        A step the heap cannot hold is refused with reason "memory": the
        app tries again after the fleet's backoff, from where it stopped
        (the files on flash stay)."""
        try:
            return self._firmware_step(v, feed, until_ms)
        except MemoryError:
            gc.collect()
            free = gc.mem_free()
            self._failed("firmware %s: out of memory (%d bytes free after collecting)" % (v, free))
            update = {"state": "refused", "version": v,
                      "reason": "memory: %d bytes of heap free, the update step needs more" % free}
            ota_boot.set_update(update, self.root)
            return update

    def _firmware_step(self, v, feed, until_ms):
        man = ota_boot.read_json(self._ota(v + ".json"))
        if man is None:
            return self._fetch_manifest(v, feed)
        for f in man["files"]:
            p = self._ota("%s/%s" % (v, f["path"]))
            have = _size(p)
            if have != f["size"]:
                if have > f["size"]:
                    return self._refuse(v, "%s is larger on flash than the manifest says" % f["path"])
                return self._download(v, f, p, max(have, 0), feed, until_ms)
        # Every file is whole: hash them from flash (a reset may have come
        # between download and marker), then mark the release for the switch.
        for f in man["files"]:
            feed()
            if sha256_file(self._ota("%s/%s" % (v, f["path"]))) != f["sha256"]:
                return self._refuse(v, "sha256 of %s does not match the manifest" % f["path"])
            if f["path"] == "ca.pem":
                # Exactly one whole certificate, or the device would switch
                # to a CA that can never verify the server.
                import tlshttp
                try:
                    tlshttp.read_ca(self._ota(v + "/ca.pem"))
                except ValueError as e:
                    return self._refuse(v, "ca.pem: %s" % e)
        ota_boot.write_json(self._ota("next"), {"version": v, "deadline": self.cfg["update_deadline_cycles"]})
        self.log.info("firmware %s downloaded and verified: restarting to switch" % v)
        return REBOOT

    def _fetch_manifest(self, v, feed):
        feed()
        # The manifest goes to flash as it arrives, bounded, and is parsed
        # from there: its text is never held in the heap beside the parsed
        # release (a release of 20 files: 2.4 KB of text, 6 KB parsed).
        makedirs(self._ota())
        path = self._ota(v + ".man")
        sink = _Sink(path, 0, _MAX_MANIFEST, feed, self.clock, self.clock.uptime_ms() + 3600000)
        try:
            try:
                status, _, _ = self._get("/api/device/firmware/" + v, sink)
            finally:
                sink.close()
        except _TooBig:
            return self._refuse(v, "manifest larger than %d bytes: too many files for this device" % _MAX_MANIFEST)
        except OSError as e:
            self._failed("firmware %s manifest: %s" % (v, e))
            return None
        if status == 404:
            return self._refuse(v, "the server has no release %s" % v)
        if status != 200:
            self._failed("firmware %s manifest: HTTP %d" % (v, status))
            return None
        try:
            with open(path) as f:
                man = json.load(f)
        except ValueError:
            return self._refuse(v, "manifest is not JSON")
        finally:
            try:
                os.remove(path)
            except OSError:
                pass
        feed()
        why = check_manifest(man, v, self.cfg.get("ota_public_key"))
        if why:
            return self._refuse(v, why)
        self.failures = 0
        # Releases other than this one left on flash are abandoned downloads.
        makedirs(self._ota())
        for name in os.listdir(self._ota()):
            if name not in ("state.json", "prev") and name != v and name != v + ".json":
                ota_boot.rmtree(self._ota(name))
        need = sum(f["size"] for f in man["files"]) + _MARGIN_BYTES
        free = free_bytes(self.root)
        if need > free:
            return self._refuse(v, "not enough flash: %d bytes needed with margin, %d free" % (need, free))
        man.pop("signature", None)
        ota_boot.write_json(self._ota(v + ".json"), man)
        update = {"state": "downloading", "version": v, "reason": None}
        ota_boot.set_update(update, self.root)
        self.log.info("firmware %s: downloading %d files, %d bytes" % (v, len(man["files"]), need - _MARGIN_BYTES))
        return update

    def _download(self, v, f, path, have, feed, until_ms):
        makedirs(path[:path.rfind("/")])
        sink = _Sink(path, have, f["size"], feed, self.clock, until_ms)
        extra = {"Range": "bytes=%d-" % have} if have else None
        try:
            try:
                status, _, _ = self._get("/api/device/firmware/%s/files/%s" % (v, f["path"]), sink, extra)
            finally:
                sink.close()
        except _Later:
            return None  # resumed at the next step
        except _TooBig as e:
            return self._refuse(v, "%s: %s" % (f["path"], e))
        except OSError as e:
            self._failed("firmware %s, %s: %s" % (v, f["path"], e))
            return None
        if status not in (200, 206):
            if status in (404, 416):
                return self._refuse(v, "%s: HTTP %d" % (f["path"], status))
            self._failed("firmware %s, %s: HTTP %d" % (v, f["path"], status))
            return None
        self.failures = 0
        if _size(path) == f["size"] and sha256_file(path) != f["sha256"]:
            return self._refuse(v, "sha256 of %s does not match the manifest" % f["path"])
        return None


class _Sink:
    """Writes a file's bytes to flash as they arrive (httpclient calls it
    with the status first, then with each piece)."""

    def __init__(self, path, have, size, feed, clock, until_ms):
        self.path = path
        self.have = have
        self.size = size
        self.feed = feed
        self.clock = clock
        self.until_ms = until_ms
        self.f = None

    def __call__(self, b):
        if isinstance(b, int):
            if b == 200:
                self.have = 0  # the whole file, not the part asked for
            if b in (200, 206):
                self.f = open(self.path, "ab" if self.have else "wb")
            return
        if self.have + len(b) > self.size:
            raise _TooBig("more bytes than the manifest's size")
        self.f.write(b)
        self.have += len(b)
        self.feed()
        if self.clock.uptime_ms() >= self.until_ms:
            raise _Later()

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None


def _check(cfg, settings):
    # config.py is big and needed rarely: load it for the check, then drop it.
    import sys
    import config
    try:
        return config.check_settings(cfg, settings)
    finally:
        del config
        sys.modules.pop("config", None)
