// Package testcert makes X.509 certificates for tests, generated when the
// test runs, so no key is ever committed.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// Kind is what a certificate is.
type Kind int

const (
	// Root is a self-signed CA (CA:TRUE), what a release's ca.pem holds.
	Root Kind = iota
	// Leaf is a server certificate issued by another, fresh CA: neither a
	// CA nor self-signed.
	Leaf
	// SelfSignedLeaf is a server certificate that signs itself (CA:FALSE).
	SelfSignedLeaf
	// Ed25519Root is a Root with an Ed25519 key.
	Ed25519Root
	// NoCertSignRoot is a CA whose key usage lacks certificate signing.
	NoCertSignRoot
)

// Options says what to make; a zero validity is from an hour ago to a
// year from now.
type Options struct {
	Kind      Kind
	Name      string
	NotBefore time.Time
	NotAfter  time.Time
}

// DER returns a new certificate as DER.
func DER(t testing.TB, o Options) []byte {
	t.Helper()
	der, _ := create(t, o)
	return der
}

// create makes a certificate and returns it with its private key.
func create(t testing.TB, o Options) ([]byte, crypto.Signer) {
	t.Helper()
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	if o.Name == "" {
		o.Name = "thermowatt test CA"
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: o.Name},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
	}
	switch o.Kind {
	case Root, Ed25519Root:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	case NoCertSignRoot:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	default:
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.DNSNames = []string{"thermowatt.example"}
	}
	var key crypto.Signer
	var err error
	if o.Kind == Ed25519Root {
		_, key, err = ed25519.GenerateKey(rand.Reader)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	parent, signer := tmpl, key
	if o.Kind == Leaf {
		caDER, caKey := create(t, Options{Name: "issuing CA of " + o.Name})
		ca, err := x509.ParseCertificate(caDER)
		if err != nil {
			t.Fatal(err)
		}
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// PEM encodes certificates as PEM CERTIFICATE blocks, one after another.
func PEM(ders ...[]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}
