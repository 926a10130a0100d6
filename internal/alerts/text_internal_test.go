package alerts

import (
	"strings"
	"testing"
)

func TestQuoted(t *testing.T) {
	for in, want := range map[any]string{
		"plain":                  "`plain`",
		"a`b":                    "`a'b`",
		"line\nbreak\u2028":      "`line break `",
		42.0:                     "`42`",
		strings.Repeat("é", 300): "`" + strings.Repeat("é", maxQuoted-1) + "…`",
	} {
		if got := quoted(in); got != want {
			t.Errorf("quoted(%q) = %q, want %q", in, got, want)
		}
	}
	if got := slackText("a & <b> @c"); got != "a &amp; &lt;b&gt; @\u2060c" {
		t.Errorf("slackText = %q", got)
	}
}
