package thermowatt

import "testing"

// The same table as esp32/test/py/test_fleet.py's
// test_the_paths_a_release_may_hold: what the server lets a release hold is
// what a device installs.
func TestDeviceTakesPath(t *testing.T) {
	for p, want := range map[string]bool{
		"lib/app.py": true, "lib/app.mpy": true, "ca.pem": true, "lib/a-b_c.1.py": true,
		"main.py": false, "boot.py": false, "config.json": false, "lib/ota_boot.py": false,
		"lib/sub/a.py": false, "lib/a.txt": false, "lib": false, "lib/": false, "app.py": false,
		"lib/../main.py": false, "/lib/a.py": false, "lib/a..py": false, "x/ca.pem": false,
	} {
		if got := DeviceTakesPath(p); got != want {
			t.Errorf("DeviceTakesPath(%q) = %v, want %v", p, got, want)
		}
	}
}
