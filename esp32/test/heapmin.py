# How much free heap a full batch send needs, on the MicroPython unix port,
# whose heap has a fixed size and a real garbage collector (the WebAssembly
# VM of `npm test` grows its heap and collects only between runs, so it
# cannot show a limit). Usage, from esp32/ (see README, Memory):
#   micropython -X heapsize=300000 test/heapmin.py . FREE
# takes 20 readings with Wi-Fi down, fills all but FREE bytes of the heap
# with ballast, then sends: it prints how the 20 readings went out.
import sys
FW = sys.argv[1]
sys.path[:0] = [FW + "/lib", FW + "/test/fakes", FW + "/test/py"]
import gc, json, os
ROOT = "/tmp/thermowatt-heapmin/"
try:
    os.mkdir(ROOT)
except OSError:
    pass
import fw
try:
    import tls  # built into the firmware on a board: not part of the send
except ImportError:
    pass
s = fw.setup(config=False)


class _NoLog:
    def append(self, x):
        pass


s.pin_log = _NoLog()  # the fake LED's history would grow in this heap
c = dict(fw.BASE_CONFIG)
c["batch_size"] = 20
with open(ROOT + "config.json", "w") as f:
    json.dump(c, f)
s.wifi_up = False
class Srv:
    rows = {}
    requests = []
srv = Srv()
def answer(n):
    for i in range(n):
        srv.rows[len(srv.rows)] = 1
    srv.requests.append(n)
    return 201, {}, '{"accepted":%d,"duplicates":0,"rejected":[]}' % n
import socket
socket.record = False
socket.keep_body = False  # count readings on the fly, keep no body
socket.handler = lambda m, u, h, b, t: answer(socket.last_readings)
import app
a = app.run(max_cycles=20, config_path=ROOT + "config.json", root=ROOT)
assert a.queue.depth == 20, a.queue.depth
s.wifi_up = True
s.ntp_set()
a.clock.mark_synced()
gc.collect()
# Ballast: leave only FREE bytes of heap for the send.
FREE = int(sys.argv[2]) if len(sys.argv) > 2 else 0
ballast = []
if FREE:
    while gc.mem_free() > FREE + 256:
        ballast.append(bytearray(200))
    gc.collect()
print("free before send", gc.mem_free())
outs = []
for i in range(12):
    try:
        o = a.uplink.send_next(a.queue, a.dead, a.health())
    except MemoryError as e:
        o = "MemoryError"
    outs.append(o)
    gc.collect()
    if a.queue.depth == 0:
        break
sizes = srv.requests
print("RESULT first=%s delivered=%d sizes=%s outs=%s" % (outs[0], len(srv.rows), sizes, outs))
