# Starts the thermowatt application. app.run() never returns on a device; a
# host test calls app.run(max_cycles=N) instead.
#
# Whatever escapes it (a MemoryError while importing, before the watchdog
# runs, or a bug in start-up) would leave an unattended board sitting at the
# REPL: log it, pause (so the serial console can show it and a crash loop
# does not hammer the flash), then reset. Ctrl-C still reaches the REPL.
_PAUSE_S = 15
app = None

try:
    import app

    app.run()
except Exception as e:
    import gc
    import sys
    import time

    import machine

    app = None  # free what can be freed, so that logging has some heap
    sys.modules.pop("app", None)
    gc.collect()
    try:
        print("FATAL %s: %s; resetting in %ds" % (type(e).__name__, e, _PAUSE_S))
        sys.print_exception(e)
        with open("/log.txt", "a") as f:
            f.write("FATAL %s: %s; resetting the board\n" % (type(e).__name__, e))
    except Exception:
        pass  # nothing more can be done without a heap or a file system
    time.sleep(_PAUSE_S)
    machine.reset()
