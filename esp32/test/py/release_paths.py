# The paths a release may hold, one table for both sides: the device's
# allowed_path (test_fleet.py) and the server's DeviceTakesPath
# (firmware_path_test.go, which reads the JSON between the triple quotes)
# must answer every path here alike.
import json

PATHS = json.loads("""
{
  "lib/app.py": true, "lib/app.mpy": true, "ca.pem": true, "lib/a-b_c.1.py": true,
  "lib/ota.py": true, "lib/ota_boot2.py": true, "lib/my_ota_boot.py": true, "lib/OTA.mpy": true,
  "main.py": false, "boot.py": false, "config.json": false, "lib/ota_boot.py": false,
  "lib/ota_boot.mpy": false, "lib/OTA_BOOT.py": false, "lib/Ota_Boot.py": false, "lib/ota_BOOT.mpy": false,
  "lib/ota_boot.x.py": false, "lib/OTA_boot.py.mpy": false, "lib/ota_boot": false, "lib/ota_boot.": false,
  "lib/sub/a.py": false, "lib/a.txt": false, "lib": false, "lib/": false, "app.py": false,
  "lib/../main.py": false, "/lib/a.py": false, "lib/a..py": false, "x/ca.pem": false,
  "lib/json.py": false, "lib/OS.mpy": false, "lib/time.py": false, "lib/Machine.py": false, "lib/sys.mpy": false,
  "lib/gc.py": false, "lib/jsonutil.py": true, "lib/timer.py": true, "lib/osd.mpy": true,
  "CA.PEM": false, "Main.py": false, "LIB/app.py": false, "lib/app.PY": false, "lib/ota_boot/__init__.py": false
}
""")
