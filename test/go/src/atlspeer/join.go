package main

// The IssueJoinTicket request of a joining node (spec: join-protocol.md §4; like
// Constellation's bootstrapper joinclient), deliberately broken variants of it
// (--mode), and the checks a node can make on the ticket it gets back.
//
// golang.org/x/crypto is not in Debian's GOPATH, so the SSH wire format (RFC 4251
// §5, RFC 8709, OpenSSH PROTOCOL.certkeys) and HKDF (RFC 5869) are written out here.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	joinpb "joinpb/join"
)

const (
	nodesGroup      = "system:nodes"
	nodeUserPrefix  = "system:node:"
	sshEd25519      = "ssh-ed25519"
	sshEd25519Cert  = "ssh-ed25519-cert-v01@openssh.com"
	clusterIDInfo   = "key-clusterID"
	sshHostCertType = 2
)

// joinModes are the --mode values that alter the IssueJoinTicket request; they
// require --rpc join.
var joinModes = []string{
	"bad-csr-signature", "csr-wrong-org", "csr-two-orgs", "csr-no-org", "csr-wrong-cn",
	"csr-pem", "bad-host-key", "empty-host-key",
}

var csrKeyTypes = []string{"ecdsa", "rsa", "ed25519"}

func isJoinMode(m string) bool {
	for _, j := range joinModes {
		if j == m {
			return true
		}
	}
	return false
}

var tokenRegexp = regexp.MustCompile(`\A[a-z0-9]{6}\.[a-z0-9]{16}\z`)

// listFlag is a repeatable string flag. The first explicit use replaces the
// default; with split, every value is also split at commas (empty parts dropped,
// so --csr-ip "" gives an empty list).
type listFlag struct {
	values []string
	set    bool
	split  bool
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set {
		l.values, l.set = []string{}, true
	}
	if !l.split {
		l.values = append(l.values, v)
		return nil
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.values = append(l.values, p)
		}
	}
	return nil
}

// joinRequest is one IssueJoinTicket request plus what the peer needs to check the
// answer (a node keeps its CSR key and its host key).
type joinRequest struct {
	req        *joinpb.IssueJoinTicketRequest
	csrSPKI    []byte
	hostPub    ed25519.PublicKey
	hostWire   []byte // wire encoding of the real host key (even for bad-host-key)
	nodeName   string
	principals []string
}

func newCSRKey(kind string) (crypto.Signer, error) {
	switch kind {
	case "ecdsa":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown CSR key type %q", kind)
}

// csrSubject is the kubelet CSR subject of the bootstrapper
// (O=system:nodes, CN=system:node:<name>), or a broken one for the csr-* modes.
func csrSubject(mode, nodeName string) pkix.Name {
	n := pkix.Name{Organization: []string{nodesGroup}, CommonName: nodeUserPrefix + nodeName}
	switch mode {
	case "csr-wrong-org":
		n.Organization = []string{"system:masters"}
	case "csr-two-orgs":
		n.Organization = []string{nodesGroup, "other"}
	case "csr-no-org":
		n.Organization = nil
	case "csr-wrong-cn":
		n.CommonName = nodeName
	}
	return n
}

func sshString(b []byte) []byte {
	out := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)))
	copy(out[4:], b)
	return out
}

// ed25519Wire is the SSH wire encoding of an Ed25519 public key (RFC 8709 §4).
func ed25519Wire(pub ed25519.PublicKey) []byte {
	return append(sshString([]byte(sshEd25519)), sshString(pub)...)
}

func buildJoinRequest(o *options) (*joinRequest, error) {
	key, err := newCSRKey(o.csrKey)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	ips := make([]net.IP, 0, len(o.csrIPs.values))
	for _, s := range o.csrIPs.values {
		ips = append(ips, net.ParseIP(s))
	}
	tmpl := &x509.CertificateRequest{
		Subject:     csrSubject(o.mode, o.nodeName),
		IPAddresses: ips,
		DNSNames:    o.csrDNS.values,
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("creating CSR: %w", err)
	}
	switch o.mode {
	case "bad-csr-signature":
		// The last byte belongs to the signature BIT STRING (for ECDSA: the last byte
		// of s), so the CSR still parses but its self-signature no longer verifies.
		csr[len(csr)-1] ^= 0xff
	case "csr-pem":
		csr = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})
	}

	hostPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	wire := ed25519Wire(hostPub)
	sent := wire
	switch o.mode {
	case "bad-host-key":
		sent = wire[:len(wire)-1] // the key string claims 32 bytes, 31 follow
	case "empty-host-key":
		sent = nil
	}

	principals := []string{}
	switch {
	case o.noPrincipals:
	case o.principals.set:
		principals = append(principals, o.principals.values...)
	default:
		principals = append(principals, o.csrIPs.values...)
		principals = append(principals, o.nodeName)
	}

	return &joinRequest{
		req: &joinpb.IssueJoinTicketRequest{
			DiskUuid:                  o.diskUUID,
			CertificateRequest:        csr,
			IsControlPlane:            o.controlPlane,
			HostPublicKey:             sent,
			HostCertificatePrincipals: principals,
		},
		csrSPKI:    spki,
		hostPub:    hostPub,
		hostWire:   wire,
		nodeName:   o.nodeName,
		principals: principals,
	}, nil
}

// hkdfSHA256 is RFC 5869 HKDF with SHA-256 (x/crypto/hkdf is not available).
func hkdfSHA256(ikm, salt, info []byte, n int) []byte {
	ext := hmac.New(sha256.New, salt) // an empty salt is the all-zero key either way
	ext.Write(ikm)
	prk := ext.Sum(nil)
	var out, t []byte
	for i := byte(1); len(out) < n; i++ {
		m := hmac.New(sha256.New, prk)
		m.Write(t)
		m.Write(info)
		m.Write([]byte{i})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

// sshReader reads SSH wire-format fields; the first failure sticks.
type sshReader struct {
	b   []byte
	err error
}

func (r *sshReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("short read in %s", what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *sshReader) u32(what string) uint32 {
	if v := r.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *sshReader) u64(what string) uint64 {
	if v := r.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *sshReader) str(what string) []byte {
	n := r.u32(what)
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("short read in %s", what)
		return nil
	}
	return r.take(int(n), what)
}

// parseAuthorizedKeysLine splits "<type> <base64 blob>" and reports whether the
// line has exactly the service's format (one space, padded standard base64, a
// single trailing "\n", no comment).
func parseAuthorizedKeysLine(line string) (keyType string, blob []byte, exact bool, err error) {
	body := strings.TrimSuffix(line, "\n")
	fields := strings.Fields(body)
	if len(fields) < 2 {
		return "", nil, false, fmt.Errorf("not an authorized_keys line: %q", line)
	}
	blob, err = base64.StdEncoding.Strict().DecodeString(fields[1])
	if err != nil {
		return "", nil, false, fmt.Errorf("base64 of %s: %w", fields[0], err)
	}
	exact = strings.HasSuffix(line, "\n") && body == fields[0]+" "+fields[1]
	return fields[0], blob, exact, nil
}

// parseEd25519Blob parses the wire encoding of an Ed25519 public key.
func parseEd25519Blob(blob []byte) (ed25519.PublicKey, error) {
	r := &sshReader{b: blob}
	typ := r.str("key type")
	key := r.str("key")
	if r.err != nil {
		return nil, r.err
	}
	if string(typ) != sshEd25519 {
		return nil, fmt.Errorf("key type %q, want %q", typ, sshEd25519)
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 key of %d bytes", len(key))
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after the key", len(r.b))
	}
	return ed25519.PublicKey(key), nil
}

// HostCertificateInfo is the decoded OpenSSH certificate (PROTOCOL.certkeys) of
// hostCertificate. uint64 values that may exceed 2^53 are decimal strings.
type HostCertificateInfo struct {
	KeyType         string   `json:"keyType"`
	NonceLength     int      `json:"nonceLength"`
	PublicKeyHex    string   `json:"publicKeyHex"`
	Serial          string   `json:"serial"`
	CertType        uint32   `json:"certType"`
	KeyID           string   `json:"keyId"`
	Principals      []string `json:"principals"`
	ValidAfter      uint64   `json:"validAfter"`
	ValidBefore     string   `json:"validBefore"`
	CriticalOptions string   `json:"criticalOptionsHex"`
	Extensions      string   `json:"extensionsHex"`
	Reserved        string   `json:"reservedHex"`
	SignatureKeyHex string   `json:"signatureKeyHex"`
	SignatureType   string   `json:"signatureType"`
}

type hostCert struct {
	info   HostCertificateInfo
	pub    []byte
	sigKey []byte
	signed []byte // blob up to and including the signature key
	sig    []byte
}

func parseHostCertBlob(blob []byte) (*hostCert, error) {
	r := &sshReader{b: blob}
	c := &hostCert{}
	c.info.KeyType = string(r.str("certificate type"))
	if r.err == nil && c.info.KeyType != sshEd25519Cert {
		return nil, fmt.Errorf("certificate type %q, want %q", c.info.KeyType, sshEd25519Cert)
	}
	c.info.NonceLength = len(r.str("nonce"))
	c.pub = r.str("public key")
	c.info.Serial = strconv.FormatUint(r.u64("serial"), 10)
	c.info.CertType = r.u32("type")
	c.info.KeyID = string(r.str("key id"))
	pr := &sshReader{b: r.str("valid principals")}
	c.info.Principals = []string{}
	for r.err == nil && pr.err == nil && len(pr.b) > 0 {
		c.info.Principals = append(c.info.Principals, string(pr.str("principal")))
	}
	c.info.ValidAfter = r.u64("valid after")
	c.info.ValidBefore = strconv.FormatUint(r.u64("valid before"), 10)
	c.info.CriticalOptions = hex.EncodeToString(r.str("critical options"))
	c.info.Extensions = hex.EncodeToString(r.str("extensions"))
	c.info.Reserved = hex.EncodeToString(r.str("reserved"))
	c.sigKey = r.str("signature key")
	if r.err == nil {
		c.signed = blob[:len(blob)-len(r.b)]
	}
	sr := &sshReader{b: r.str("signature")}
	c.info.SignatureType = string(sr.str("signature type"))
	c.sig = sr.str("signature blob")
	for _, e := range []error{r.err, pr.err, sr.err} {
		if e != nil {
			return nil, e
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after the signature", len(r.b))
	}
	if len(sr.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes in the signature", len(sr.b))
	}
	c.info.PublicKeyHex = hex.EncodeToString(c.pub)
	c.info.SignatureKeyHex = hex.EncodeToString(c.sigKey)
	return c, nil
}

// JoinChecks are the checks a node can make on its ticket. The *bool checks need
// the cluster CA certificate and are only present for control-plane tickets that
// carry ca.crt. Errors explains every failed check.
type JoinChecks struct {
	KubeletCertMatchesCSRKey bool     `json:"kubeletCertMatchesCsrKey"`
	TokenFormatOK            bool     `json:"tokenFormatOk"`
	CAPublicKeyFormatOK      bool     `json:"authorizedCaPublicKeyFormatOk"`
	HostCertificateValid     bool     `json:"hostCertificateValid"`
	DiscoveryHashMatchesCA   *bool    `json:"discoveryHashMatchesCa,omitempty"`
	KubeletCertSignedByCA    *bool    `json:"kubeletCertSignedByCa,omitempty"`
	Errors                   []string `json:"errors,omitempty"`
}

// ControlPlaneFile is one control_plane_cert_or_key.
type ControlPlaneFile struct {
	Name       string `json:"name"`
	DataBase64 string `json:"dataBase64"`
}

// Component is one components.Component.
type Component struct {
	URL         string `json:"url"`
	Hash        string `json:"hash"`
	InstallPath string `json:"installPath"`
	Extract     bool   `json:"extract"`
}

// JoinRequestOutput describes the IssueJoinTicket request that was sent (printed
// for --rpc join whether or not the RPC succeeded).
type JoinRequestOutput struct {
	NodeName            string   `json:"nodeName"`
	PrincipalsSent      []string `json:"principalsSent"`
	CSRPublicKeySPKIHex string   `json:"csrPublicKeySpkiHex"`
	HostPublicKeyLine   string   `json:"hostPublicKeyLine"`
}

// JoinTicketOutput is a successful IssueJoinTicketResponse plus the peer's checks
// (state_disk_key and measurement_secret are printed as for rejoin).
type JoinTicketOutput struct {
	MeasurementSalt          string               `json:"measurementSalt"`
	ClusterID                string               `json:"clusterId"`
	KubeletCert              string               `json:"kubeletCert"`
	APIServerEndpoint        string               `json:"apiServerEndpoint"`
	Token                    string               `json:"token"`
	DiscoveryTokenCACertHash string               `json:"discoveryTokenCaCertHash"`
	ControlPlaneFiles        []ControlPlaneFile   `json:"controlPlaneFiles"`
	KubernetesVersion        string               `json:"kubernetesVersion"`
	KubernetesComponents     []Component          `json:"kubernetesComponents"`
	AuthorizedCAPublicKey    string               `json:"authorizedCaPublicKey"`
	HostCertificate          string               `json:"hostCertificate"`
	HostCertificateInfo      *HostCertificateInfo `json:"hostCertificateInfo,omitempty"`
	Checks                   JoinChecks           `json:"checks"`
}

func (j *joinRequest) output() *JoinRequestOutput {
	return &JoinRequestOutput{
		NodeName:            j.nodeName,
		PrincipalsSent:      j.principals,
		CSRPublicKeySPKIHex: hex.EncodeToString(j.csrSPKI),
		HostPublicKeyLine:   sshEd25519 + " " + base64.StdEncoding.EncodeToString(j.hostWire),
	}
}

func parsePEMCertificate(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block type %q", block.Type)
	}
	return x509.ParseCertificate(block.Bytes)
}

func ticketOutput(j *joinRequest, t *joinpb.IssueJoinTicketResponse) *JoinTicketOutput {
	out := &JoinTicketOutput{
		MeasurementSalt:          hex.EncodeToString(t.GetMeasurementSalt()),
		ClusterID:                hex.EncodeToString(hkdfSHA256(t.GetMeasurementSecret(), t.GetMeasurementSalt(), []byte(clusterIDInfo), 32)),
		KubeletCert:              string(t.GetKubeletCert()),
		APIServerEndpoint:        t.GetApiServerEndpoint(),
		Token:                    t.GetToken(),
		DiscoveryTokenCACertHash: t.GetDiscoveryTokenCaCertHash(),
		ControlPlaneFiles:        []ControlPlaneFile{},
		KubernetesVersion:        t.GetKubernetesVersion(),
		KubernetesComponents:     []Component{},
		AuthorizedCAPublicKey:    string(t.GetAuthorizedCaPublicKey()),
		HostCertificate:          string(t.GetHostCertificate()),
	}
	var caCertPEM []byte
	for _, f := range t.GetControlPlaneFiles() {
		out.ControlPlaneFiles = append(out.ControlPlaneFiles, ControlPlaneFile{Name: f.GetName(), DataBase64: base64.StdEncoding.EncodeToString(f.GetData())})
		if f.GetName() == "ca.crt" {
			caCertPEM = f.GetData()
		}
	}
	for _, c := range t.GetKubernetesComponents() {
		out.KubernetesComponents = append(out.KubernetesComponents, Component{URL: c.GetUrl(), Hash: c.GetHash(), InstallPath: c.GetInstallPath(), Extract: c.GetExtract()})
	}

	ch := &out.Checks
	fail := func(format string, a ...interface{}) { ch.Errors = append(ch.Errors, fmt.Sprintf(format, a...)) }

	// The kubelet certificate must certify the node's own CSR key.
	kubeletCert, err := parsePEMCertificate(t.GetKubeletCert())
	if err != nil {
		fail("kubeletCert: %v", err)
	} else if ch.KubeletCertMatchesCSRKey = bytes.Equal(kubeletCert.RawSubjectPublicKeyInfo, j.csrSPKI); !ch.KubeletCertMatchesCSRKey {
		fail("kubeletCert: public key differs from the CSR key")
	}

	if ch.TokenFormatOK = tokenRegexp.MatchString(t.GetToken()); !ch.TokenFormatOK {
		fail("token %q does not match %s", t.GetToken(), tokenRegexp)
	}

	// The SSH CA line and the host certificate: a certificate for our host key,
	// signed by that CA, both as exact authorized_keys lines.
	var caBlob []byte
	var caPub ed25519.PublicKey
	typ, blob, exact, err := parseAuthorizedKeysLine(out.AuthorizedCAPublicKey)
	if err == nil {
		caPub, err = parseEd25519Blob(blob)
	}
	switch {
	case err != nil:
		fail("authorizedCaPublicKey: %v", err)
	case typ != sshEd25519:
		fail("authorizedCaPublicKey: type %q", typ)
	case !exact:
		fail("authorizedCaPublicKey: not exactly %q", "ssh-ed25519 <base64>\n")
	default:
		ch.CAPublicKeyFormatOK = true
	}
	if err == nil {
		caBlob = blob
	}

	typ, blob, exact, err = parseAuthorizedKeysLine(out.HostCertificate)
	var cert *hostCert
	if err == nil {
		cert, err = parseHostCertBlob(blob)
	}
	if err != nil {
		fail("hostCertificate: %v", err)
	} else {
		out.HostCertificateInfo = &cert.info
		var problems []string
		if typ != sshEd25519Cert || !exact {
			problems = append(problems, fmt.Sprintf("line is not exactly %q", sshEd25519Cert+" <base64>\n"))
		}
		if !bytes.Equal(cert.pub, j.hostPub) {
			problems = append(problems, "certified key is not our host key")
		}
		if cert.info.CertType != sshHostCertType {
			problems = append(problems, fmt.Sprintf("certificate type %d, want %d (host)", cert.info.CertType, sshHostCertType))
		}
		if caBlob == nil || !bytes.Equal(cert.sigKey, caBlob) {
			problems = append(problems, "signature key is not the authorizedCaPublicKey")
		}
		if cert.info.SignatureType != sshEd25519 || caPub == nil || !ed25519.Verify(caPub, cert.signed, cert.sig) {
			problems = append(problems, "signature does not verify with the authorizedCaPublicKey")
		}
		if ch.HostCertificateValid = len(problems) == 0; !ch.HostCertificateValid {
			fail("hostCertificate: %s", strings.Join(problems, "; "))
		}
	}

	// Control-plane tickets carry the cluster CA: check the discovery hash and the
	// kubelet certificate's signature against it.
	if caCertPEM != nil {
		hashOK, signedOK := false, false
		ch.DiscoveryHashMatchesCA, ch.KubeletCertSignedByCA = &hashOK, &signedOK
		ca, err := parsePEMCertificate(caCertPEM)
		if err != nil {
			fail("controlPlaneFiles ca.crt: %v", err)
		} else {
			sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
			want := "sha256:" + hex.EncodeToString(sum[:])
			if hashOK = t.GetDiscoveryTokenCaCertHash() == want; !hashOK {
				fail("discoveryTokenCaCertHash %q, ca.crt gives %q", t.GetDiscoveryTokenCaCertHash(), want)
			}
			if kubeletCert != nil {
				if err := kubeletCert.CheckSignatureFrom(ca); err != nil {
					fail("kubeletCert not signed by ca.crt: %v", err)
				} else {
					signedOK = true
				}
			}
		}
	}
	return out
}
