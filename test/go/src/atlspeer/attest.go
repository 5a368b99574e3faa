package main

// Client side of Constellation's attested TLS (spec: atls.md §4, §5.2, §6.1, §7.1,
// §9.1) with the "dummy" issuer or an external --issuer-command / --issuer-url
// (issuer.go), plus
// deliberately broken variants selected by --mode.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

const nonceLen = 32

var (
	oidQEMUvTPM = variantOIDs["qemu-vtpm"]
	oidCN       = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// dummyDocument is the dummy issuer's attestation document (Go atls.FakeIssuer):
// encoding/json renders []byte as padded standard base64, fields in this order.
type dummyDocument struct {
	UserData []byte
	Nonce    []byte
}

// paddedDocument is a valid dummy document enlarged by a key the validator ignores.
type paddedDocument struct {
	UserData []byte
	Nonce    []byte
	Padding  string
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeNonce extracts the server nonce from the acceptable-CA list of the
// CertificateRequest (atls.md §5.2); the caller wraps errors as "decode nonce: ...".
func decodeNonce(acceptableCAs [][]byte) ([]byte, error) {
	if len(acceptableCAs) != 1 {
		return nil, errors.New("unexpected acceptableCAs length")
	}
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(acceptableCAs[0], &rdns); err != nil {
		return nil, err
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if !atv.Type.Equal(oidCN) {
				continue
			}
			s, ok := atv.Value.(string)
			if !ok {
				return nil, errors.New("unexpected RDN type")
			}
			return base64.StdEncoding.DecodeString(s)
		}
	}
	return nil, errors.New("CN not found")
}

func spkiHash(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:], nil
}

// verifyServerCertificate performs the structural checks of atls.md §6.1 on the
// server's certificate. The join-service client has no validators, so there is no
// attestation check (§6.2).
func verifyServerCertificate(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return errors.New("rawCerts is empty")
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		// Go's verifier would hash any key type; the hash is unused without validators.
		return nil
	}
	_, err = spkiHash(pub)
	return err
}

// clientCertificate is the GetClientCertificate callback: it builds a fresh aTLS
// client certificate for one CertificateRequest according to the mode.
func (p *peer) clientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	mode := p.opts.mode
	if mode == "no-client-cert" {
		p.logf("no-client-cert: sending an empty Certificate message")
		return &tls.Certificate{}, nil
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	nonce, err := decodeNonce(cri.AcceptableCAs)
	if err != nil {
		if mode != "no-sni" {
			return nil, fmt.Errorf("decode nonce: %w", err)
		}
		p.logf("no-sni: acceptable CAs do not decode to a nonce (%v); using a random nonce", err)
		if nonce, err = randomBytes(nonceLen); err != nil {
			return nil, err
		}
	}
	userData, err := spkiHash(&key.PublicKey)
	if err != nil {
		return nil, err
	}

	switch mode {
	case "wrong-nonce":
		if nonce, err = randomBytes(nonceLen); err != nil {
			return nil, err
		}
	case "wrong-key-hash":
		other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		if userData, err = spkiHash(&other.PublicKey); err != nil {
			return nil, err
		}
	}

	var doc []byte
	switch {
	case p.opts.issuerURL != "":
		p.logf("issuer url: POST %s nonce=%x userData=%x", p.opts.issuerURL, nonce, userData)
		doc, err = issueDocument(cri.Context(), p.opts, nonce, userData)
	case p.opts.issuerCommand != "":
		p.logf("issuer command: %s %q", p.opts.issuerCommand, issuerCommandLine(p.opts, nonce, userData))
		doc, err = issueDocument(cri.Context(), p.opts, nonce, userData)
	case mode == "garbage-document":
		doc, err = randomBytes(p.opts.docSize)
	case mode == "big-document":
		doc, err = paddedDocumentJSON(userData, nonce, p.opts.docSize)
	default:
		doc, err = json.Marshal(dummyDocument{UserData: userData, Nonce: nonce})
	}
	if err != nil {
		return nil, err
	}

	now := time.Now()
	notBefore, notAfter := now.Add(-2*time.Hour), now.Add(2*time.Hour)
	if mode == "expired-cert" {
		notBefore, notAfter = now.Add(-4*time.Hour), now.Add(-3*time.Hour)
	}
	var exts []pkix.Extension
	switch mode {
	case "missing-extension":
		// no extensions field at all
	case "other-variant":
		exts = []pkix.Extension{{Id: oidQEMUvTPM, Value: doc}}
	default:
		exts = []pkix.Extension{{Id: variantOIDs[p.opts.variant], Value: doc}}
	}

	der, err := createCertificate(key, notBefore, notAfter, exts)
	if err != nil {
		return nil, err
	}
	p.logf("client certificate: variant=%s mode=%s serverNonce=%x document=%d bytes certificate=%d bytes", p.opts.variant, mode, nonce, len(doc), len(der))
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// paddedDocumentJSON returns {"UserData":...,"Nonce":...,"Padding":"AAA..."} of
// exactly size bytes.
func paddedDocumentJSON(userData, nonce []byte, size int) ([]byte, error) {
	base, err := json.Marshal(paddedDocument{UserData: userData, Nonce: nonce})
	if err != nil {
		return nil, err
	}
	if size < len(base) {
		return nil, fmt.Errorf("--doc-size %d is smaller than the minimal padded document (%d bytes)", size, len(base))
	}
	doc, err := json.Marshal(paddedDocument{UserData: userData, Nonce: nonce, Padding: strings.Repeat("A", size-len(base))})
	if err != nil {
		return nil, err
	}
	if len(doc) != size {
		return nil, fmt.Errorf("internal error: padded document has %d bytes, want %d", len(doc), size)
	}
	return doc, nil
}

// minPaddedDocumentSize is the smallest --doc-size big-document accepts (32-byte
// user data and nonce).
func minPaddedDocumentSize() int {
	b, _ := json.Marshal(paddedDocument{UserData: make([]byte, sha256.Size), Nonce: make([]byte, nonceLen)})
	return len(b)
}

// createCertificate builds the self-signed aTLS certificate of atls.md §4.
func createCertificate(key *ecdsa.PrivateKey, notBefore, notAfter time.Time, exts []pkix.Extension) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: "Constellation"},
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		ExtraExtensions: exts,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
}
