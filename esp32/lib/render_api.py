# send_temperature_to_render: send one temperature straight to the service.
#   send_temperature_to_render(temp_c, recorded_at=None) -> True if delivered
# It uses the running application (or, at the REPL, one built from
# config.json) through App.send_now: the same uplink, retry decisions and
# flash queue. Whatever is not delivered at once goes on that queue and is
# sent later; a reading the server refuses for good goes to the dead-letter
# file.
from clock import parse_iso


def send_temperature_to_render(temp_c, recorded_at=None):
    if recorded_at is not None:
        parse_iso(recorded_at)  # ValueError now beats a 400 from the server later
    import app  # here, not at the top: app does not depend on this module
    return app.instance().send_now(temp_c, recorded_at)
