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
