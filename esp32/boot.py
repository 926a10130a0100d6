# boot.py runs on every reset before main.py. Keep it minimal: anything that
# fails here would stop the board before the application can report errors
# over the serial log and the LED.
import gc

gc.collect()
