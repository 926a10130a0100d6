# Starts the thermowatt application. app.run() never returns on a device; a
# host test calls app.run(max_cycles=N) instead.
#
# First ota_boot finishes whatever a firmware update left to do (a switch to
# a new version, or a rollback): it is the one module no release replaces.
#
# Whatever escapes the application (a MemoryError while importing, before
# the watchdog runs, or a bug in start-up) would leave an unattended board
# sitting at the REPL: log it, pause (so the serial console can show it and
# a crash loop does not hammer the flash), then reset. When the version that
# failed is on trial after an update, its files are first replaced by the
# previous version's, so the reset starts the version that worked.
_PAUSE_S = 15
app = None

try:
    import ota_boot

    ota_boot.boot()
except Exception as e:
    print("ERROR firmware switch: %s: %s" % (type(e).__name__, e))


def _start():
    import app

    app.run()


def _forget(before):
    # Drop what a failed start imported, so that a second try starts from
    # the heap the board had after the switch.
    import sys
    for name in list(sys.modules):
        if name not in before:
            sys.modules.pop(name, None)


# A MemoryError while the modules load is not proof that the release is
# bad: the heap may have been fragmented by the switch. Collect and try
# once more from the fewest modules; only a second failure counts as a
# failed boot (and rolls a version on trial back).
import gc
import sys

_before = set(sys.modules)
for _try in (1, 2):
    try:
        _start()
        break
    except MemoryError as e:
        _forget(_before)
        gc.collect()
        if _try == 1:
            ota_boot.messages.append("WARN MemoryError at start (%s): collected, tried once more" % e)
            continue
        _fatal = e
    except Exception as e:
        _fatal = e
    import time

    import machine

    app = None  # free what can be freed, so that logging has some heap
    _forget(_before)
    gc.collect()
    e = _fatal
    back = False
    try:
        back = ota_boot.rollback("%s at start: %s" % (type(e).__name__, e))
    except Exception:
        pass  # not on trial, or the flash fails: the reset below still comes
    try:
        print("FATAL %s: %s; %sresetting in %ds" % (type(e).__name__, e, "rolled back; " if back else "", _PAUSE_S))
        sys.print_exception(e)
        with open("/log.txt", "a") as f:
            f.write("FATAL %s: %s; %sresetting the board\n" % (type(e).__name__, e, "rolled back; " if back else ""))
            for m in ota_boot.messages:  # the switch and rollback of this boot
                print(m)
                f.write(m + "\n")
    except Exception:
        pass  # nothing more can be done without a heap or a file system
    time.sleep(_PAUSE_S)
    machine.reset()
