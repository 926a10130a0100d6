package thermowatt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/testcert"
)

// A release's ca.pem is refused unless a device could pin it: exactly one
// certificate, valid now, a CA or self-signed, with a key mbedtls checks.
func TestCheckReleaseCA(t *testing.T) {
	now := time.Now()
	root := testcert.DER(t, testcert.Options{Name: "fleet root 2027"})
	rootPEM := testcert.PEM(root)
	key := []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n")
	for _, c := range []struct {
		name    string
		content []byte
		err     string // "" when accepted
	}{
		{"a root CA in PEM", rootPEM, ""},
		{"a root CA in DER", root, ""},
		{"text around the PEM block (openssl x509 -text)", append([]byte("Certificate:\n    Data: ...\n"), rootPEM...), ""},
		{"a self-signed server certificate", testcert.PEM(testcert.DER(t, testcert.Options{Kind: testcert.SelfSignedLeaf, Name: "lan server"})), ""},
		{"two certificates", testcert.PEM(root, testcert.DER(t, testcert.Options{Name: "second"})), "more than one certificate"},
		{"a certificate and its private key", append(bytes.Clone(rootPEM), key...), `PEM "PRIVATE KEY" block`},
		{"PEM cut before its END line", rootPEM[:len(rootPEM)/2], "truncated or damaged"},
		{"PEM with a line of its base64 lost", cutBase64(rootPEM), "not a valid X.509 certificate"},
		{"PEM with damaged base64", bytes.Replace(rootPEM, []byte("M"), []byte("*"), 1), "truncated or damaged"},
		{"DER cut short", root[:len(root)-10], "not a valid X.509 certificate"},
		{"garbage", []byte("hello, I am not a certificate\n"), "neither PEM"},
		{"empty", []byte("\n"), "empty"},
		{"expired", testcert.PEM(testcert.DER(t, testcert.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})), "expired on"},
		{"not valid yet", testcert.PEM(testcert.DER(t, testcert.Options{NotBefore: now.Add(24 * time.Hour)})), "is not valid until"},
		{"the server's own certificate", testcert.PEM(testcert.DER(t, testcert.Options{Kind: testcert.Leaf, Name: "thermowatt.example"})), "is not a CA: it was issued by CN=issuing CA of thermowatt.example"},
		{"an Ed25519 CA", testcert.PEM(testcert.DER(t, testcert.Options{Kind: testcert.Ed25519Root})), "RSA and ECDSA certificates only"},
		{"a CA that may not sign certificates", testcert.PEM(testcert.DER(t, testcert.Options{Kind: testcert.NoCertSignRoot})), "does not allow signing certificates"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cert, err := thermowatt.CheckReleaseCA(c.content, now)
			if c.err == "" {
				if err != nil || cert == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("err = %v, want one saying %q", err, c.err)
			}
		})
	}
	cert, _ := thermowatt.CheckReleaseCA(rootPEM, now)
	sum := sha256.Sum256(root)
	if fp := thermowatt.CAFingerprint(cert.Raw); fp != hex.EncodeToString(sum[:]) || !thermowatt.ValidCAFingerprint(fp) {
		t.Errorf("CAFingerprint = %s, want the sha256 of the DER", fp)
	}
}

// cutBase64 removes one line from the middle of a PEM block's base64:
// the END line is there, the content is not whole.
func cutBase64(p []byte) []byte {
	lines := bytes.Split(p, []byte("\n"))
	mid := len(lines) / 2
	return bytes.Join(append(lines[:mid:mid], lines[mid+1:]...), []byte("\n"))
}

// What a device reports of its CAs: old firmware and devices without
// ca_cert report none; a malformed fingerprint is left out.
func TestHealthCA(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("0123456789abcdef", 4)
	for _, c := range []struct {
		health string
		want   thermowatt.DeviceCA
		ok     bool
	}{
		{`{"firmware":"1.0","queue_depth":0}`, thermowatt.DeviceCA{}, false},
		{`{"ca":null}`, thermowatt.DeviceCA{}, false},
		{`{"ca":"x"}`, thermowatt.DeviceCA{}, false},
		{`{"ca":{"active":"` + a + `","waiting":null}}`, thermowatt.DeviceCA{Active: a}, true},
		{`{"ca":{"active":"` + a + `","waiting":"` + b + `"}}`, thermowatt.DeviceCA{Active: a, Waiting: b}, true},
		{`{"ca":{"active":"` + strings.ToUpper(a) + `","waiting":12}}`, thermowatt.DeviceCA{}, true},
		{`{"ca":{"active":"` + a[:12] + `"}}`, thermowatt.DeviceCA{}, true},
		{`not json "ca"`, thermowatt.DeviceCA{}, false},
		{``, thermowatt.DeviceCA{}, false},
	} {
		got, ok := thermowatt.HealthCA([]byte(c.health))
		if got != c.want || ok != c.ok {
			t.Errorf("HealthCA(%s) = %+v, %v; want %+v, %v", c.health, got, ok, c.want, c.ok)
		}
	}
	if thermowatt.ShortCAFingerprint(b) != "0123456789ab" {
		t.Errorf("ShortCAFingerprint = %s", thermowatt.ShortCAFingerprint(b))
	}
}
