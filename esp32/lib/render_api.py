# send_temperature_to_render: send one temperature straight to the service.
#   send_temperature_to_render(temp_c, recorded_at=None) -> True if delivered
# It uses the running application (or, at the REPL, one built from
# config.json): the same uplink, retry decisions and flash queue. Whatever
# is not delivered at once goes on that queue and is sent later; a reading
# the server refuses for good goes to the dead-letter file.
import reading
from clock import iso_utc, parse_iso
from retry import SENT, RETRY


def send_temperature_to_render(temp_c, recorded_at=None):
    if recorded_at is not None:
        parse_iso(recorded_at)  # ValueError now beats a 400 from the server later
    import app  # here, not at the top: app does not depend on this module
    a = app.instance()
    clock, log = a.clock, a.log
    if recorded_at is None and clock.valid():
        recorded_at = iso_utc(clock.unix())
    rec = reading.direct(clock.boot, clock.uptime_ms(), temp_c, recorded_at)
    if recorded_at is None:
        # No wrong dates: the queue dates it from its uptime once NTP ran.
        log.warn("clock not set yet: temperature %s queued until it is" % temp_c)
        a.queue.append(rec)
        return False
    outcome = a.uplink.send_now(rec, recorded_at, a.dead, a.health(), a.feed)
    if outcome == SENT:
        log.info("temperature %s at %s sent" % (temp_c, recorded_at))
        a.show_sent()
        return True
    if outcome == RETRY:
        a.queue.append(rec)
        log.warn("temperature %s at %s queued for later delivery" % (temp_c, recorded_at))
    return False
