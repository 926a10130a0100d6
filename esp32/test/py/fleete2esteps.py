# The device side of the fleet end-to-end test (test/fleet-e2e.test.mjs):
# the real firmware, booted through boot.py and main.py as on a board,
# talking over real HTTP (the VM's bridge) to a real `thermowatt serve`.
# Between two calls from the test the server side changes (settings,
# releases, rollouts); each call powers the board on and runs it until it
# resets itself or its time is up. What it sent and what the server
# answered is kept in S for the test to check and print.
import gc
import json

import fleetfw
import sim
import socket

S = {"exchanges": [], "heap": [], "cut": None}
_IV = None


def start(true_ms, interval_s):
    global _IV
    _IV = interval_s * 1000
    s = sim.install(epoch=2000, true_ms=true_ms)
    s.add_bmp(step_t=37)
    s.add_ina(shunt_raw=1500, bus_reg=(4980 // 4) << 3)
    socket.handler = _record
    socket.record = False


def _record(method, url, headers, body, timeout):
    """The bridge to the real server, keeping a short account of each
    exchange: what was asked, the status, and the desired state answered."""
    st, hdrs, text = socket._bridge(method, url, headers, body, timeout)
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    e = {"m": method, "path": path, "status": st, "up_ms": sim.SIM.up_ms}
    if headers.get("Range"):
        e["range"] = headers["Range"]
    if path == "/api/measurements":
        docs = json.loads(body)
        docs = docs if isinstance(docs, list) else [docs]
        e["readings"] = len(docs)
        dev = (docs[-1].get("payload") or {}).get("device")
        if dev:
            e["health"] = {"firmware": dev.get("firmware"), "settings_rev": dev.get("settings_rev"),
                           "update": dev.get("update")}
        try:
            e["desired"] = json.loads(text).get("desired")
        except ValueError:
            pass
    elif path == "/api/device/settings" and st == 200:
        e["answer"] = json.loads(text)
    S["exchanges"].append(e)
    cut = S["cut"]
    if cut and path.endswith("/files/" + cut[0]) and not headers.get("Range") and st == 200:
        # The power goes after cut[1] bytes of this file reached the board.
        S["cut"] = None
        e["cut_after"] = cut[1]
        return st, hdrs, (text.encode()[:cut[1]], fleetfw.PowerCut("mid-file"))
    # The heap allocated since the boot began, at each request of an
    # update. This VM frees memory only between top-level runs, so within
    # a boot the figure counts garbage too: an upper bound of the peak.
    if path.startswith("/api/device/"):
        S["heap"].append(gc.mem_alloc() - S["alloc0"])
    return st, hdrs, text


def boot(cycles):
    """Power on and run until the firmware resets the board ("reset") or
    `cycles` intervals have passed ("running")."""
    fleetfw.forget_firmware()
    s = sim.SIM
    s.power_cut()
    s.hooks = []
    s.wdt = None
    mark = len(S["exchanges"])
    S["alloc0"] = gc.mem_alloc()

    def stop():
        raise KeyboardInterrupt
    s.at(cycles * _IV + _IV // 2, stop)
    out = None
    try:
        exec(open("/boot.py").read(), {})
        exec(open("/main.py").read(), {"__name__": "__main__"})
    except KeyboardInterrupt:
        out = "running"
    except SystemExit:
        out = "reset"
    except fleetfw.PowerCut:
        out = "cut"
    if out is None:
        raise AssertionError("main.py returned")
    import sys
    cur = getattr(sys.modules.get("app"), "_current", None)
    S["last"] = {"outcome": out, "alloc": gc.mem_alloc() - S["alloc0"], "exchanges": S["exchanges"][mark:], "state": fleetfw.state(),
                 "true_ms": s.true_ms, "interval_s": cur.cfg["interval_s"] if cur else None}
    return out


def boots(cycles, n):
    """Up to n boots, until one runs its cycles without a reset."""
    outs = []
    allx = []
    S["heap"] = []
    for _ in range(n):
        outs.append(boot(cycles))
        allx += S["last"]["exchanges"]
        if outs[-1] == "running":
            break
    S["last"]["outcomes"] = outs
    S["last"]["exchanges"] = allx
    return outs


def log_tail(n=40):
    return fleetfw.log_text().split("\n")[-n:]
