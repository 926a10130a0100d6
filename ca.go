package thermowatt

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// ReleaseCAPath is where a release carries the CA the server will move to
// (docs/fleet.md, "Rotate the CA"): the device keeps it waiting beside its
// ca_cert until a send verified with it succeeds.
const ReleaseCAPath = "ca.pem"

// ReleaseCARule says what a release's ca.pem must be. A device that
// installs a CA it cannot use is cut off from the server once the server's
// certificate changes, so what the device could not use is refused at
// publish:
//   - one certificate, because the firmware pins exactly one (mbedtls is
//     given one DER certificate: esp32/lib/tlshttp.py);
//   - valid now: an expired one, or one not valid yet, fails every
//     handshake on a device whose clock is right;
//   - a CA (basic constraints CA:TRUE, and allowed to sign certificates
//     when it lists key usages), or a self-signed certificate, which
//     mbedtls trusts when the server presents exactly it. The usual
//     mistake, the server's own certificate issued by a CA, is neither;
//   - an RSA or ECDSA key, the ones mbedtls verifies (not Ed25519).
const ReleaseCARule = `exactly one X.509 certificate, PEM (one CERTIFICATE block and no other block) or DER, valid now, that is a CA (CA:TRUE) or self-signed, with an RSA or ECDSA key`

// CheckReleaseCA parses a release's ca.pem and says why a device could not
// use it (ReleaseCARule), at time now. It returns the certificate when it
// can be used; CAFingerprint(cert.Raw) is what devices report for it.
func CheckReleaseCA(content []byte, now time.Time) (*x509.Certificate, error) {
	der, err := oneCertificate(content)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("not a valid X.509 certificate (%v): export the CA again, e.g. `openssl x509 -in ca.crt -out ca.pem`", err)
	}
	name := certName(cert)
	switch {
	case now.Before(cert.NotBefore):
		return nil, fmt.Errorf("certificate %s is not valid until %s: a device would refuse the server with it; wait or use another", name, cert.NotBefore.UTC().Format(time.RFC3339))
	case now.After(cert.NotAfter):
		return nil, fmt.Errorf("certificate %s expired on %s: a device would refuse the server with it; use the CA's current certificate", name, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	// CheckSignatureFrom would refuse a parent that is not a CA: check
	// the signature against the certificate's own key directly.
	selfSigned := bytes.Equal(cert.RawIssuer, cert.RawSubject) &&
		cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
	isCA := cert.BasicConstraintsValid && cert.IsCA
	if !isCA && !selfSigned {
		return nil, fmt.Errorf("certificate %s is not a CA: it was issued by %s; put that CA's certificate in ca.pem, not the server's own", name, cert.Issuer)
	}
	if isCA && cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certificate %s is a CA whose key usage does not allow signing certificates, so it cannot vouch for the server's", name)
	}
	switch cert.PublicKeyAlgorithm {
	case x509.RSA, x509.ECDSA:
	default:
		return nil, fmt.Errorf("certificate %s has a %s key; the device's TLS (mbedtls) verifies RSA and ECDSA certificates only", name, cert.PublicKeyAlgorithm)
	}
	return cert, nil
}

// oneCertificate returns the DER of the one certificate in content: DER
// itself (an ASN.1 SEQUENCE, which is how the firmware tells them apart)
// or PEM with exactly one CERTIFICATE block. Text around the block (what
// `openssl x509 -text` writes) is allowed, as the firmware skips it; any
// other block is refused: a bundle, or a private key that must never ride
// in a release.
func oneCertificate(content []byte) ([]byte, error) {
	if len(bytes.TrimSpace(content)) == 0 {
		return nil, errors.New("the file is empty")
	}
	if content[0] == 0x30 {
		return content, nil
	}
	var der []byte
	rest, blocks := content, 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("it holds a PEM %q block; it must hold only the CA's CERTIFICATE", b.Type)
		}
		if der != nil {
			return nil, errors.New("it holds more than one certificate; a device pins exactly one CA: keep only the root the server's new certificate chains to")
		}
		der = b.Bytes
	}
	if blocks == 0 {
		if bytes.Contains(content, []byte("-----BEGIN")) {
			return nil, errors.New("its PEM block is truncated or damaged (no matching END line, or bad base64): copy the whole certificate")
		}
		return nil, errors.New("it is neither PEM (-----BEGIN CERTIFICATE-----) nor DER")
	}
	// pem.Decode skips a block whose base64 is damaged: a second BEGIN
	// line left over means one was not read.
	if n := bytes.Count(content, []byte("-----BEGIN")); n != blocks {
		return nil, errors.New("one of its PEM blocks is truncated or damaged (no matching END line, or bad base64): copy the whole certificate")
	}
	return der, nil
}

func certName(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return fmt.Sprintf("%q", s)
	}
	return "(no subject)"
}

// CAFingerprint is how a device names a CA in its health report: the
// sha256 of the certificate's DER, in lower-case hex (what
// `openssl x509 -in ca.pem -outform der | sha256sum` prints).
func CAFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ValidCAFingerprint reports whether s is a fingerprint as CAFingerprint
// writes it: 64 lower-case hex digits.
func ValidCAFingerprint(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// ShortCAFingerprint abbreviates a fingerprint for people: its first 12
// hex digits, which tell a fleet's few CAs apart.
func ShortCAFingerprint(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

// DeviceCA is what a device reports of its CAs (payload.device.ca): the
// fingerprint of the CA it verifies the server with, and of the CA a
// release delivered that waits to take over ("" for none).
type DeviceCA struct {
	Active  string
	Waiting string
}

// HealthCA reads payload.device.ca from a device's health report. ok is
// false when the device reports none: firmware older than CA reports, or
// a device that does not verify TLS (ca_cert null). A fingerprint that is
// not 64 lower-case hex digits is left out ("") rather than failing the
// list that shows it.
func HealthCA(health json.RawMessage) (ca DeviceCA, ok bool) {
	if !bytes.Contains(health, []byte(`"ca"`)) {
		return ca, false
	}
	var h struct {
		CA json.RawMessage `json:"ca"`
	}
	if json.Unmarshal(health, &h) != nil || len(h.CA) == 0 || h.CA[0] != '{' {
		return ca, false
	}
	var raw struct {
		Active  any `json:"active"`
		Waiting any `json:"waiting"`
	}
	if json.Unmarshal(h.CA, &raw) != nil {
		return ca, false
	}
	fp := func(v any) string {
		if s, _ := v.(string); ValidCAFingerprint(s) {
			return s
		}
		return ""
	}
	return DeviceCA{Active: fp(raw.Active), Waiting: fp(raw.Waiting)}, true
}
