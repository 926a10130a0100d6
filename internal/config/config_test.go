package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsAndOverrides(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil || c.Port != 8080 || c.DataDir != "./data" || c.PublicURL != "http://localhost:8080" || c.ShutdownTimeout != 25*time.Second {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	env := map[string]string{"PORT": "9000", "RENDER_EXTERNAL_URL": "https://tw.onrender.com/"}
	c, err = Load(func(k string) string { return env[k] })
	if err != nil || c.Port != 9000 || c.PublicURL != "https://tw.onrender.com" {
		t.Fatalf("overrides: %+v %v", c, err)
	}
}

func TestInvalidValuesAreAllReported(t *testing.T) {
	env := map[string]string{"PORT": "http", "ADMIN_TOKEN": "short", "SHUTDOWN_TIMEOUT": "soon"}
	_, err := Load(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"PORT", "ADMIN_TOKEN", "SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), `"short"`) {
		t.Errorf("a secret's value must not be echoed: %v", err)
	}
}
