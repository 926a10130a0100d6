# One boot of a board on MicroPython's 32-bit unix port, whose heap is
# capped (-X heapsize) the way an ESP32 without PSRAM caps it. Driven by
# test/unixport.mjs: micropython -X heapsize=H board.py ROOT
#
# ROOT is the board's flash: main.py, boot.py, lib/, config.json and what
# the firmware writes, mounted as "/" so that the firmware runs unmodified.
# ROOT/_board holds this file's plan (plan.json) and the stand-ins of what
# an ESP32 has built in (machine, network, ntptime, and a clock with the
# ESP32's epoch: test/fakes). The network is real: the firmware's sockets
# reach a real `thermowatt serve`.
#
# On a board those stand-ins are C modules that cost no heap, so what they
# hold here is set aside first: a ballast takes every byte beyond
# plan["heap"] minus what the interpreter itself used at start, which the
# board's interpreter uses too. What the stand-ins allocate while the
# firmware runs comes out of the firmware's share (the measure errs on the
# strict side).
import gc
import sys

_BASE = gc.mem_alloc()
_ROOT = sys.argv[1]
import json
import vfs

vfs.umount("/")
vfs.mount(vfs.VfsPosix(_ROOT), "/")
import os

os.chdir("/")  # the mount's own cwd, else imports of "" fail


class _Os:
    """os as the firmware sees it. MicroPython 1.28's VfsPosix mounted with
    a root renames absolute paths wrongly (ENOENT); relative ones from "/"
    work, so rename gets them that way. Everything else is os itself."""

    def __getattr__(self, name):
        return getattr(os, name)

    def rename(self, a, b):
        os.rename(a.lstrip("/"), b.lstrip("/"))


sys.modules["os"] = _Os()
sys.path[:] = ["/_board", "", "/lib"]
with open("/_board/plan.json") as f:
    plan = json.load(f)
import sim

s = sim.install(epoch=2000, true_ms=plan["true_ms"], rtc_unix=None, up_ms=0)
s.add_bmp(step_t=16)
s.add_ina(shunt_raw=1200, bus_reg=(5000 // 4) << 3)  # 5.000 V


class _NoLog:
    def append(self, x):
        pass


s.pin_log = _NoLog()  # the LED's history would grow in the measured heap
s.ntp_ok = plan.get("ntp", True)
if plan.get("wifi_down_ms"):
    s.wifi_up = False

    def _up():
        s.wifi_up = True
    s.at(plan["wifi_down_ms"], _up)


class Stop(BaseException):
    """The plan's time is up (not an Exception: the firmware's handlers let
    it through, as they would a power cut)."""


def _stop():
    raise Stop()


s.at(plan["run_ms"], _stop)
import machine  # noqa: the stand-ins, loaded before the ballast
import network  # noqa
import ntptime  # noqa
import fakedev  # noqa
del f
gc.collect()
_give = plan["heap"] - _BASE
# The ballast in pieces: one block of the whole size may find no room in a
# heap the stand-ins left with holes; pieces fill the holes first.
_ballast = []
_piece = 4096
while gc.mem_free() - _give > 64 and _piece >= 64:
    try:
        _ballast.append(bytearray(min(_piece, gc.mem_free() - _give - 48)))  # 48: a piece's own overhead
    except MemoryError:
        _piece //= 2  # no hole that large is left: smaller pieces
gc.collect()
print("BOARD heap for the firmware: %d bytes" % gc.mem_free())
outcome = "returned"
try:
    import boot  # noqa: as a board runs boot.py, then main.py
    import main  # noqa
except Stop:
    outcome = "running"
except SystemExit as e:
    outcome = "reset" if "machine.reset" in str(e) else "exit"
except MemoryError as e:
    outcome = "MemoryError"
print("BOARD outcome=%s true_ms=%d free=%d" % (outcome, s.true_ms, gc.mem_free()))
