# Steps of the peak-heap measurement (driven by test/heap.test.mjs).
# The WebAssembly port only frees memory between top-level runs, so within
# one run gc.mem_alloc() only grows: the growth over a send is an upper
# bound of what the send needs on top of the live heap before it.
import gc

import fw

R = {}
N = 20  # config.py's default batch_size
APP = None


def prepare():
    s = fw.setup(batch_size=N)
    s.wifi_up = False  # N intervals offline: a full batch waits
    import sim, machine, network, ntptime, socket, tls  # noqa: the harness itself
    # The fake server counts what arrives and keeps none of it, as a real
    # one does not live in the device's heap.
    socket.record = False
    socket.keep_body = False

    def handler(method, url, headers, body, timeout):
        R["at_request"] = gc.mem_alloc()
        R["readings"] = socket.last_readings
        R["body_bytes"] = socket.last_body_bytes
        return 201, {}, '{"accepted":%d,"duplicates":0,"rejected":[]}' % R["readings"]
    socket.handler = handler


def fill():
    global APP
    import app
    APP = app.run(max_cycles=N)
    assert APP.queue.depth == N, APP.queue.depth


def send():
    import sim
    sim.SIM.wifi_up = True
    a = APP
    sim.SIM.ntp_set()  # what NTP does once the link is back
    a.clock.mark_synced()
    start = gc.mem_alloc()
    outcome = a.uplink.send_next(a.queue, a.dead, a.health())
    R["send_alloc"] = gc.mem_alloc() - start
    R["to_request"] = R["at_request"] - start
    R["outcome"] = outcome
    R["left"] = a.queue.depth


# -- a firmware update, step by step (driven by test/heap.test.mjs) ----------
U = {"steps": []}


def update_harness():
    """The test's own side (fake server, a signed release of two files,
    about 5 KB), made first so that its heap is not counted."""
    import fleetfw
    fw.setup()
    U["key"] = fleetfw.public_key_b64()
    U["srv"] = fleetfw.FleetServer()
    U["srv"].add(fleetfw.v2_release())


def update_prepare():
    """A board that has delivered its queue and been told to run 2.0.0."""
    global APP
    fw.write_config(ota_public_key=U["key"])
    srv = U["srv"].install()
    import socket
    socket.record = False
    import app
    APP = app.run(max_cycles=1)  # one reading delivered
    # The next answer names 2.0.0; the steps are taken here, one per run.
    srv.firmware = "2.0.0"
    APP.uplink.desired = {"settingsRev": 0, "firmware": "2.0.0"}
    import fleet
    assert APP.fleet_wanted(APP.clock.uptime_ms())
    # Held here so that its code counts as live heap, not as the step's.
    U["fleet"] = fleet.Fleet(APP.cfg, APP.clock, APP.log, APP.uplink.http, APP.uplink.headers,
                             APP.root, APP.version, APP.local)


def update_step():
    """One step of the update as the loop takes it (one request); returns
    what it did."""
    a = APP
    start = gc.mem_alloc()
    r = U["fleet"].firmware_step("2.0.0", a.feed, a.clock.uptime_ms() + 60000)
    U["steps"].append(gc.mem_alloc() - start)
    U["last"] = r if isinstance(r, str) or r is None else r.get("state")
    return U["last"]
