package thermowatt

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The table esp32/test/py/test_fleet.py's test_the_paths_a_release_may_hold
// runs the device's allowed_path on, inside MicroPython: what the server
// lets a release hold is what a device installs, one table for both.
func TestDeviceTakesPath(t *testing.T) {
	src, err := os.ReadFile("esp32/test/py/release_paths.py")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(src), `"""`)
	if len(parts) != 3 {
		t.Fatalf("release_paths.py: want one JSON table between triple quotes, found %d parts", len(parts))
	}
	var want map[string]bool
	if err := json.Unmarshal([]byte(parts[1]), &want); err != nil || len(want) < 20 {
		t.Fatalf("release_paths.py: %v (%d paths)", err, len(want))
	}
	for p, ok := range want {
		if got := DeviceTakesPath(p); got != ok {
			t.Errorf("DeviceTakesPath(%q) = %v, want %v", p, got, ok)
		}
	}
}
