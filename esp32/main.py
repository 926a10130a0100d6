# Starts the thermowatt application. app.run() never returns on a device; a
# host test calls app.run(max_cycles=N) instead.
import app

app.run()
