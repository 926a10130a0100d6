package cli

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// The config.json that device add writes has config.example.json's
// defaults: the same keys, the same values.
func TestDeviceConfigDefaultsAreTheExample(t *testing.T) {
	raw, err := os.ReadFile("../../esp32/config.example.json")
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	if err := json.Unmarshal(raw, &example); err != nil {
		t.Fatal(err)
	}
	b, _ := newDeviceConfig("n1", "tw_x", "https://example.com", nil).marshal()
	var ours map[string]any
	if err := json.Unmarshal(b, &ours); err != nil {
		t.Fatal(err)
	}
	for k := range example {
		if strings.HasPrefix(k, "_") {
			delete(example, k)
		}
	}
	for _, k := range []string{"wifi", "base_url", "device_id", "api_key"} {
		delete(example, k)
		delete(ours, k)
	}
	if !reflect.DeepEqual(ours, example) {
		t.Errorf("defaults differ from esp32/config.example.json:\nours    %v\nexample %v", ours, example)
	}
}
