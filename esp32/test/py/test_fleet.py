# Fleet: settings, firmware updates and rollbacks, as the server asks for
# them in its answers, with the real modules booting through main.py against
# the fleet contract's fake server, and power cuts at each step.
import json

import fleetfw
import fw
from fleetfw import FleetServer, Release, boot, state


def _setup(**cfg):
    s = fw.setup(**cfg)
    srv = FleetServer().install()
    return s, srv


def _delivered_exactly_once(s, srv):
    # A reading taken before NTP in its boot is dated from its uptime once
    # the clock is set: good to about a second.
    from clock import iso_utc
    want = sorted(iso_utc(t // 1000) for t in s.devices[0x76].triggers)
    got = srv.times()
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert g == w or g[:17] == w[:17] and abs(int(g[17:19]) - int(w[17:19])) <= 1, (got, want)
    assert fw.jsonl("/deadletter.jsonl") == []


def _booted_to_v2(srv, boots=6):
    for _ in range(boots):
        if boot(srv, cycles=3) == "running" and state().get("current") == "2.0.0" and not state().get("trial"):
            return
    raise AssertionError("no v2 after %d boots: %s\n%s" % (boots, state(), fleetfw.log_text()[-3000:]))


def test_a_settings_change_is_applied_kept_over_a_reboot_and_reported():
    s, srv = _setup()
    srv.settings_rev = 3
    srv.settings = {"interval_s": 120, "batch_size": 5, "http_timeout_s": 8, "backoff_base_s": 2,
                    "backoff_cap_s": 300, "led": False, "log_level": "WARN", "update_deadline_cycles": 4}
    import app
    a = app.run(max_cycles=4)
    assert a.settings_rev == 3 and a.cfg["interval_s"] == 120 and a.uplink.batch_size == 5
    assert a.uplink.backoff.cap_s == 300 and a.led.enabled is False
    trig = s.devices[0x76].triggers
    assert trig[-1] - trig[-2] == 120000, trig  # the new interval took effect
    assert srv.posts_with_health[-1]["settings_rev"] == 3
    assert srv.posts_with_health[0]["settings_rev"] == 0
    with open("/settings.json") as f:
        assert json.load(f)["rev"] == 3
    gets = [c for c in __import__("socket").calls if c["url"].endswith("/api/device/settings")]
    assert len(gets) == 1
    # After a power cut the settings hold from the start; no fetch again.
    s.power_cut()
    s.wdt = None
    fleetfw.forget_firmware()
    import app
    a = app.run(max_cycles=2)
    assert a.settings_rev == 3 and a.cfg["interval_s"] == 120
    assert a.cfg["api_key"] == "devtoken"  # config.json's own keys untouched
    gets = [c for c in __import__("socket").calls if c["url"].endswith("/api/device/settings")]
    assert len(gets) == 1
    _delivered_exactly_once(s, srv)


def test_a_key_the_server_stops_setting_goes_back_to_the_config_json_value_at_once():
    # `thermowatt settings set interval_s=null` (or a PUT without the key):
    # the effective settings no longer name it, and the device must run
    # config.json's value, as it would after a restart, not keep the
    # server's previous one.
    s, srv = _setup()
    srv.settings_rev = 3
    srv.settings = {"interval_s": 120, "led": False}
    import app
    a = app.run(max_cycles=3)
    assert a.settings_rev == 3 and a.cfg["interval_s"] == 120 and a.led.enabled is False
    srv.settings_rev = 4
    srv.settings = {"led": False}
    s.wdt = None
    a = app.run(max_cycles=3)
    assert a.settings_rev == 4, a.settings_rev
    assert a.cfg["interval_s"] == 300 and a.interval_ms == 300000, a.cfg["interval_s"]
    assert a.led.enabled is False
    trig = s.devices[0x76].triggers
    assert trig[-1] - trig[-2] == 300000, trig
    # And the same after a restart.
    s.power_cut()
    s.wdt = None
    fleetfw.forget_firmware()
    import app
    a = app.run(max_cycles=1)
    assert a.settings_rev == 4 and a.cfg["interval_s"] == 300
    _delivered_exactly_once(s, srv)


def test_settings_that_fail_the_checks_are_refused_and_reported_never_applied():
    s, srv = _setup()
    srv.settings_rev = 7
    srv.settings = {"interval_s": 5}  # below config.json's range
    import app
    a = app.run(max_cycles=3)
    assert a.settings_rev == 0 and a.cfg["interval_s"] == 300
    assert "interval_s must be between 10 and 86400" in srv.posts_with_health[-1]["settings_error"]
    assert "settings rev 7 refused" in fleetfw.log_text()
    assert not fw.exists("/settings.json")
    # The same revision is not fetched again and again.
    gets = [c for c in __import__("socket").calls if c["url"].endswith("/api/device/settings")]
    assert len(gets) == 1
    # Keys the server may not set are refused as a whole.
    srv.settings_rev = 8
    srv.settings = {"interval_s": 60, "api_key": "stolen"}
    s.wdt = None
    a = app.run(max_cycles=2)
    assert a.cfg["api_key"] == "devtoken" and a.cfg["interval_s"] == 300
    assert "api_key cannot be set remotely" in fleetfw.log_text()


def test_v1_updates_to_a_signed_v2_and_v2_delivers():
    s, srv = _setup(ota_public_key=fleetfw.public_key_b64())
    rel = srv.add(fleetfw.v2_release())
    srv.firmware = "2.0.0"
    assert boot(srv, cycles=3) == "reset"  # downloaded, verified, marked
    assert fw.exists("/ota/next") and fw.exists("/ota/2.0.0/lib/extra.py")
    assert [g[0] for g in srv.file_gets] == ["lib/extra.py", "lib/reading.py"]
    assert boot(srv, cycles=3) == "running"
    with open("/lib/reading.py", "rb") as f:
        assert f.read() == rel.contents["lib/reading.py"]
    assert fw.exists("/lib/extra.py")
    st = state()
    assert st["current"] == "2.0.0" and st["trial"] is None, st
    assert st["update"] == {"state": "installed", "version": "2.0.0", "reason": None}
    h = srv.posts_with_health[-1]
    assert h["firmware"] == "2.0.0" and h["update"]["state"] == "installed"
    import reading
    assert reading.RELEASE == "2.0.0"  # the new code is what runs
    log = fleetfw.log_text()
    assert "firmware 2.0.0 installed (was the flashed one)" in log
    assert "firmware 2.0.0 delivered a batch: it stays" in log
    assert not fw.exists("/ota/prev") and not fw.exists("/ota/2.0.0")
    _delivered_exactly_once(s, srv)


def test_a_v3_that_fails_at_import_is_rolled_back_to_v2_and_reported():
    s, srv = _setup()
    srv.add(fleetfw.v2_release(signed=False))
    srv.firmware = "2.0.0"
    _booted_to_v2(srv)
    v2_reading = open("/lib/reading.py", "rb").read()
    srv.add(Release("3.0.0", {"lib/reading.py": v2_reading + b"\nraise RuntimeError('v3 is broken')\n",
                              "lib/three.py": b"THREE = 3\n"}, signed=False))
    srv.firmware = "3.0.0"
    assert boot(srv, cycles=3) == "reset"  # v3 staged
    assert boot(srv, cycles=3) == "reset"  # switched, failed at import, rolled back
    assert boot(srv, cycles=3) == "running"
    assert open("/lib/reading.py", "rb").read() == v2_reading
    assert not fw.exists("/lib/three.py")  # v3's new file is gone
    st = state()
    assert st["current"] == "2.0.0" and st["trial"] is None
    assert st["update"]["state"] == "rolled_back" and st["update"]["version"] == "3.0.0"
    assert "RuntimeError at start: v3 is broken" in st["update"]["reason"]
    h = srv.posts_with_health[-1]
    assert h["firmware"] == "2.0.0" and h["update"] == st["update"]
    assert "firmware 3.0.0 rolled back to 2.0.0: RuntimeError at start: v3 is broken" in fleetfw.log_text()
    # Not downloaded again while the server still names it.
    n = len(srv.file_gets)
    assert boot(srv, cycles=3) == "running"
    assert len(srv.file_gets) == n
    _delivered_exactly_once(s, srv)


def test_a_new_version_that_delivers_nothing_within_its_deadline_is_rolled_back():
    s, srv = _setup(update_deadline_cycles=2)
    srv.add(fleetfw.v2_release(signed=False))
    srv.firmware = "2.0.0"
    assert boot(srv, cycles=3) == "reset"
    srv.script = [503] * 10  # the server fails while v2 is on trial
    assert boot(srv, cycles=4) == "reset"
    st = state()
    assert st["current"] is None and st["update"]["state"] == "rolled_back", st
    assert "no batch delivered within 2 intervals" in st["update"]["reason"]
    assert not fw.exists("/lib/extra.py") and b"RELEASE" not in open("/lib/reading.py", "rb").read()
    assert boot(srv, cycles=3) == "running"
    assert srv.posts_with_health[-1]["firmware"] == "1.0.0"
    assert srv.posts_with_health[-1]["update"]["state"] == "rolled_back"
    _delivered_exactly_once(s, srv)


def test_a_file_whose_sha256_does_not_match_is_refused():
    s, srv = _setup()
    rel = srv.add(fleetfw.v2_release(signed=False))
    rel.contents["lib/reading.py"] = rel.contents["lib/reading.py"].replace(b"2.0.0", b"6.6.6")  # same size
    srv.firmware = "2.0.0"
    assert boot(srv, cycles=3) == "running"
    st = state()
    assert st["update"] == {"state": "refused", "version": "2.0.0",
                            "reason": "sha256 of lib/reading.py does not match the manifest"}, st
    assert not fw.exists("/ota/next") and not fw.exists("/ota/2.0.0")
    assert b"RELEASE" not in open("/lib/reading.py", "rb").read()
    assert srv.posts_with_health[-1]["update"]["state"] == "refused"
    _delivered_exactly_once(s, srv)


def test_a_bad_or_missing_signature_is_refused():
    s, srv = _setup(ota_public_key=fleetfw.public_key_b64())
    srv.add(fleetfw.v2_release(secret=b"someone else's key, not ours 123"))
    srv.firmware = "2.0.0"
    assert boot(srv, cycles=2) == "running"
    assert state()["update"]["reason"] == "signature does not verify with ota_public_key"
    assert srv.file_gets == []  # nothing downloaded
    srv.add(Release("2.0.1", {"lib/extra.py": b"X = 1\n"}, signed=False))
    srv.firmware = "2.0.1"
    assert boot(srv, cycles=2) == "running"
    assert state()["update"]["reason"] == "release is not signed, and ota_public_key requires a signature"
    assert state().get("current") is None
    _delivered_exactly_once(s, srv)


def test_a_release_that_does_not_fit_the_flash_or_touches_the_boot_code_is_refused():
    s, srv = _setup()
    import fleet
    fleet.free_bytes = lambda root: 20000
    srv.add(Release("2.0.0", {"lib/big.py": b"#" * 8000}, signed=False))
    srv.firmware = "2.0.0"
    app = __import__("app")
    app.run(max_cycles=2)
    assert "not enough flash: 24384 bytes needed with margin, 20000 free" in state()["update"]["reason"]
    srv.add(Release("2.0.1", {"lib/ota_boot.py": b"# nothing\n"}, signed=False))
    srv.firmware = "2.0.1"
    s.wdt = None
    app.run(max_cycles=2)
    assert "may not contain 'lib/ota_boot.py'" in state()["update"]["reason"]


def test_a_download_cut_mid_file_resumes_with_range():
    s, srv = _setup()
    rel = srv.add(fleetfw.v2_release(signed=False))
    srv.firmware = "2.0.0"
    srv.cut_file_after = ("lib/reading.py", 1500)
    # The link dies after 1500 bytes; the rest comes with Range.
    _booted_to_v2(srv)
    assert ("lib/reading.py", "bytes=1500-") in srv.file_gets
    assert open("/lib/reading.py", "rb").read() == rel.contents["lib/reading.py"]
    _delivered_exactly_once(s, srv)


def _cut_then_boot(cut, **server_kw):
    s, srv = _setup()
    rel = srv.add(fleetfw.v2_release(signed=False))
    srv.firmware = "2.0.0"
    for k in server_kw:
        setattr(srv, k, server_kw[k])
    out = fleetfw.with_cut(cut, boot, srv, cycles=3)
    assert out == "cut", (out, cut.seen[-10:])
    _booted_to_v2(srv)
    assert open("/lib/reading.py", "rb").read() == rel.contents["lib/reading.py"]
    _delivered_exactly_once(s, srv)
    return srv


def test_power_cut_before_the_download_starts():
    import os
    _cut_then_boot(fleetfw.CutOs(os, when=lambda w: w.startswith("mkdir /ota/2.0.0")))


def test_power_cut_mid_file_resumes_what_reached_the_flash():
    import os
    s, srv = _setup()
    rel = srv.add(fleetfw.v2_release(signed=False))
    srv.firmware = "2.0.0"
    data = rel.contents["lib/reading.py"]
    orig = srv.handle

    def handle(method, url, headers, body, timeout):
        if url.endswith("/files/lib/reading.py") and not headers.get("Range"):
            return 200, {}, (data[:2048], fleetfw.PowerCut("mid-file"))
        return orig(method, url, headers, body, timeout)
    srv.handle = handle
    assert fleetfw.with_cut(fleetfw.CutOs(os, n=10 ** 9), boot, srv, cycles=3) == "cut"
    import os as real
    assert real.stat("/ota/2.0.0/lib/reading.py")[6] == 2048
    srv.handle = orig
    _booted_to_v2(srv)
    assert ("lib/reading.py", "bytes=2048-") in srv.file_gets
    assert open("/lib/reading.py", "rb").read() == data
    _delivered_exactly_once(s, srv)


def test_power_cut_after_the_download_before_the_marker():
    import os
    _cut_then_boot(fleetfw.CutOs(os, when=lambda w: w.startswith("rename /ota/next.tmp")))


def test_power_cut_after_the_marker_before_the_reboot():
    import os
    _cut_then_boot(fleetfw.CutOs(os, when=lambda w: w.startswith("rename /ota/next.tmp"), after=True))


def test_power_cut_at_every_change_of_the_switch_boots_old_or_new_never_neither():
    import os
    s, srv = _setup()
    rel = srv.add(fleetfw.v2_release(signed=False))
    srv.firmware = "2.0.0"
    assert boot(srv, cycles=3) == "reset"  # staged and marked
    marked = fleetfw.snapshot()
    # How many flash changes the switch makes when nothing goes wrong.
    probe = fleetfw.CutOs(os, n=10 ** 9)
    fleetfw.with_cut(probe, boot, srv, until_ms=1)
    changes = [w for w in probe.seen]
    assert len(changes) >= 8, changes
    for k in range(1, len(changes) + 1):
        fleetfw.restore(marked)
        cut = fleetfw.CutOs(os, n=k)
        assert fleetfw.with_cut(cut, boot, srv, until_ms=1) == "cut", k
        # The next boot must run a whole version: v2 (the switch is finished).
        assert boot(srv, until_ms=1) == "running", (k, changes[k - 1])
        st = state()
        assert st["current"] == "2.0.0", (k, changes[k - 1], st)
        assert open("/lib/reading.py", "rb").read() == rel.contents["lib/reading.py"], (k, changes[k - 1])
        assert fw.exists("/lib/extra.py") and not fw.exists("/ota/next") and not fw.exists("/ota/switch.json")
    print("REPORT switch: power cut at each of its %d flash changes, every time the next boot ran v2" % len(changes))
    _booted_to_v2(srv)


def test_power_cut_at_every_change_of_a_rollback_leaves_the_old_version():
    import os
    s, srv = _setup()
    srv.add(fleetfw.v2_release(signed=False))
    srv.firmware = "2.0.0"
    v1_reading = fleetfw.lib_file("reading.py")
    srv.add(Release("2.0.0", {"lib/reading.py": v1_reading + b"\nraise RuntimeError('broken')\n",
                              "lib/extra.py": b"EXTRA = 2\n"}, signed=False))
    assert boot(srv, cycles=3) == "reset"  # staged and marked
    before = fleetfw.snapshot()
    probe = fleetfw.CutOs(os, n=10 ** 9)
    assert fleetfw.with_cut(probe, boot, srv, until_ms=20000) == "reset"  # switch, import error, rollback
    n = len(probe.seen)
    for k in range(1, n + 1):
        fleetfw.restore(before)
        assert fleetfw.with_cut(fleetfw.CutOs(os, n=k), boot, srv, until_ms=20000) == "cut", k
        for _ in range(3):
            if boot(srv, until_ms=20000) == "running":
                break
        st = state()
        assert st["current"] is None and st["update"]["state"] == "rolled_back", (k, probe.seen[k - 1], st)
        assert fleetfw.lib_file("reading.py") == v1_reading, (k, probe.seen[k - 1])
        assert not fw.exists("/lib/extra.py"), (k, probe.seen[k - 1])
    print("REPORT rollback: power cut at each of %d flash changes of switch + rollback, the flashed version came back every time" % n)


def test_a_released_ca_takes_over_only_after_a_send_verified_with_it():
    import binascii
    import tls
    old_der = b"\x30\x03old"
    new_der = b"\x30\x03new"
    new_pem = b"-----BEGIN CERTIFICATE-----\n" + binascii.b2a_base64(new_der) + b"-----END CERTIFICATE-----\n"
    with open("/ca.der", "wb") as f:
        f.write(old_der)
    s, srv = _setup(ca_cert="/ca.der")
    server_ca = [old_der]  # the CA of the certificate the server presents
    orig = tls.SSLContext.wrap_socket

    def wrap(self, sock, **kw):
        if self.cadata != server_ca[0]:
            raise ValueError("MBEDTLS_ERR_X509_CERT_VERIFY_FAILED")
        return orig(self, sock, **kw)
    tls.SSLContext.wrap_socket = wrap
    srv.add(Release("2.0.0", {"ca.pem": new_pem, "lib/extra.py": b"EXTRA = 2\n"}, signed=False))
    srv.firmware = "2.0.0"
    _booted_to_v2(srv)
    # Installed beside the old CA; the server still uses the old one: the
    # new one does not verify, the old one carries every send.
    assert open("/ca.next.pem", "rb").read() == new_pem
    assert open("/ca.der", "rb").read() == old_der
    n = len(srv.rows)
    server_ca[0] = new_der  # the server moves to the new CA
    assert boot(srv, cycles=2) == "running"
    assert len(srv.rows) > n
    assert not fw.exists("/ca.next.pem")
    assert open("/ca.der", "rb").read() == new_pem  # the old CA is gone
    server_ca[0] = old_der  # and is no longer trusted
    n = len(srv.rows)
    assert boot(srv, cycles=2) == "running"
    assert len(srv.rows) == n
    _ = s


def _vector(name):
    with open("/tests/ota/" + name) as f:
        return f.read()


def test_the_signed_test_vector_of_testdata_ota_verifies_as_the_server_signed_it():
    # testdata/ota is signed by the server's code (thermowatt firmware sign,
    # internal/ota's test): the device rebuilds the same canonical bytes
    # from the manifest it is served and verifies the signature with them.
    import fleet
    fw.setup()
    raw = _vector("manifest.json")
    man = json.loads(raw)
    assert fleet.canonical(man) == raw.encode(), (fleet.canonical(man), raw)
    man["signature"] = _vector("manifest.sig")
    key = _vector("public.key")
    assert fleet.check_manifest(man, man["version"], key) is None
    man["files"][0]["size"] += 1
    assert fleet.check_manifest(man, man["version"], key) == "signature does not verify with ota_public_key"


def test_the_paths_a_release_may_hold():
    # The table the server's TestDeviceTakesPath reads too (release_paths.py):
    # the server publishes only what a device installs.
    import fleet
    from release_paths import PATHS
    for p in PATHS:
        assert bool(fleet.allowed_path(p)) == PATHS[p], p


def _ca_release(version, der):
    import binascii
    pem = b"-----BEGIN CERTIFICATE-----\n" + binascii.b2a_base64(der) + b"-----END CERTIFICATE-----\n"
    return Release(version, {"ca.pem": pem, "lib/extra.py": ("EXTRA = %r\n" % version).encode()}, signed=False), pem


def _server_presents(der):
    # The fake TLS accepts only a CA equal to the one the server's
    # certificate chains to.
    import tls
    orig = tls.SSLContext.wrap_socket

    def wrap(self, sock, **kw):
        if self.cadata != der:
            raise ValueError("MBEDTLS_ERR_X509_CERT_VERIFY_FAILED")
        return orig(self, sock, **kw)
    tls.SSLContext.wrap_socket = wrap


def test_rolling_back_a_later_release_keeps_the_ca_an_earlier_one_left_waiting():
    with open("/ca.der", "wb") as f:
        f.write(b"\x30\x03old")
    s, srv = _setup(ca_cert="/ca.der")
    _server_presents(b"\x30\x03old")
    rel, pem = _ca_release("2.0.0", b"\x30\x03new")
    srv.add(rel)
    srv.firmware = "2.0.0"
    _booted_to_v2(srv)
    assert open("/ca.next.pem", "rb").read() == pem  # waits: the server still uses the old CA
    # 3.0.0 (no ca.pem) fails at import and is rolled back: 2.0.0's CA stays.
    srv.add(Release("3.0.0", {"lib/app.py": fleetfw.lib_file("app.py") + b"\nraise RuntimeError('v3 is broken')\n"},
                    signed=False))
    srv.firmware = "3.0.0"
    for _ in range(6):
        boot(srv, cycles=3)
        if state()["update"].get("state") == "rolled_back":
            break
    assert state()["update"]["state"] == "rolled_back" and state()["current"] == "2.0.0", state()
    assert open("/ca.next.pem", "rb").read() == pem
    # 4.0.0 brings a CA of its own and is rolled back: 2.0.0's comes back.
    rel4, pem4 = _ca_release("4.0.0", b"\x30\x04new4")
    rel4.contents["lib/app.py"] = fleetfw.lib_file("app.py") + b"\nraise RuntimeError('v4 is broken')\n"
    rel4 = Release("4.0.0", rel4.contents, signed=False)
    srv.add(rel4)
    srv.firmware = "4.0.0"
    for _ in range(6):
        boot(srv, cycles=3)
        if state()["update"].get("version") == "4.0.0" and state()["update"].get("state") == "rolled_back":
            break
    assert state()["update"]["state"] == "rolled_back", state()
    assert open("/ca.next.pem", "rb").read() == pem
    health = srv.posts_with_health[-1]["ca"]
    assert health["waiting"] is not None and health["active"] is not None, health
    _ = s


def test_a_ca_pem_that_is_not_one_whole_certificate_is_refused_before_install():
    with open("/ca.der", "wb") as f:
        f.write(b"\x30\x03old")
    s, srv = _setup(ca_cert="/ca.der")
    rel, pem = _ca_release("2.0.0", b"\x30\x09cut")  # says 9 bytes, holds 3
    srv.add(rel)
    srv.firmware = "2.0.0"
    for _ in range(3):
        boot(srv, cycles=3)
    u = state()["update"]
    assert u["state"] == "refused" and u["reason"].startswith("ca.pem:"), u
    assert not fw.exists("/ca.next.pem") and state()["current"] is None
    _ = s


def test_a_release_of_mpy_files_moves_the_flashed_py_twins_aside_and_a_rollback_brings_them_back():
    # MicroPython imports lib/x.py before lib/x.mpy: a compiled release
    # must not leave the flashed source in front of it.
    import ota_boot
    fw.setup()
    with open("/lib/zz_twin.py", "w") as f:
        f.write("V = 1\n")
    ota_boot._makedirs("/ota/2.0.0/lib")
    with open("/ota/2.0.0/lib/zz_twin.mpy", "wb") as f:
        f.write(b"M\x06compiled")
    ota_boot.write_json("/ota/2.0.0.json", {"version": "2.0.0", "files": [{"path": "lib/zz_twin.mpy", "size": 10, "sha256": "0" * 64}]})
    ota_boot.write_json("/ota/next", {"version": "2.0.0", "deadline": 3})
    ota_boot.boot()
    assert not fw.exists("/lib/zz_twin.py") and fw.exists("/lib/zz_twin.mpy")
    assert fw.exists("/ota/prev/lib/zz_twin.py")
    assert ota_boot.rollback("test")
    assert fw.exists("/lib/zz_twin.py") and not fw.exists("/lib/zz_twin.mpy")
    assert open("/lib/zz_twin.py").read() == "V = 1\n"


_ONCE = b"""
import os as _os
try:
    _os.stat("/mem_once")
except OSError:
    open("/mem_once", "w").close()
    raise MemoryError("simulated: the heap is fragmented at the switch")
"""


def test_a_memory_error_at_the_first_start_of_a_new_version_is_tried_again_not_rolled_back():
    s, srv = _setup()
    v1_reading = open("/lib/reading.py", "rb").read()
    srv.add(Release("2.0.0", {"lib/reading.py": _ONCE + v1_reading}, signed=False))
    srv.firmware = "2.0.0"
    assert boot(srv, cycles=3) == "reset"  # staged
    assert boot(srv, cycles=3) == "running"  # switched; MemoryError once; started again
    st = state()
    assert st["current"] == "2.0.0" and st["trial"] is None, st
    assert st["update"]["state"] == "installed", st
    assert "MemoryError at start (simulated: the heap is fragmented at the switch): collected, tried once more" in fleetfw.log_text()
    assert "rolled back" not in fleetfw.log_text()
    _delivered_exactly_once(s, srv)


def test_a_memory_error_at_both_tries_counts_as_a_failed_boot_and_rolls_back():
    s, srv = _setup()
    v1_reading = open("/lib/reading.py", "rb").read()
    srv.add(Release("2.0.0", {"lib/reading.py": b"raise MemoryError('never fits')\n" + v1_reading}, signed=False))
    srv.firmware = "2.0.0"
    assert boot(srv, cycles=3) == "reset"  # staged
    assert boot(srv, cycles=3) == "reset"  # switched, MemoryError twice, rolled back
    assert boot(srv, cycles=3) == "running"
    st = state()
    assert st["current"] is None and st["update"]["state"] == "rolled_back", st
    assert "MemoryError at start: never fits" in st["update"]["reason"]
    assert open("/lib/reading.py", "rb").read() == v1_reading
    _ = s
