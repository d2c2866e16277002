package format

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Options are provider-wide flags. The zero value is not the upstream default:
// the Azure provider's --construct-pem-chain defaults to true.
type Options struct {
	ConstructPEMChain         bool // --construct-pem-chain
	WriteCertAndKeySeparately bool // --write-cert-and-key-in-separate-files
}

// Key Vault secret content types that mark a certificate's secret.
const (
	ContentTypePEM    = "application/x-pem-file"
	ContentTypePKCS12 = "application/x-pkcs12"
)

// Values of Request.Format.
const (
	FormatPEM = "pem"
	FormatPFX = "pfx"
)

// Fetched is one object version as Key Vault returned it. Pointer fields are nil
// when the response lacked them.
type Fetched struct {
	Type        vocab.ObjectType
	Name        string  // object name, for errors
	Value       *string // secret value
	ContentType *string // secret content type
	KID         *string // non-empty for certificate-backed secrets
	Key         *JWK    // key bundle's key (public parts)
	CER         []byte  // certificate DER (leaf), nil if missing
}

// Request is what the object's configuration asks for. Format, Encoding and
// CertPart are expected lower-case; other case is accepted.
type Request struct {
	Path     string         // base output path (alias or name, or <alias>/<i> for history)
	Mode     fs.FileMode    // of every file, unless a JSONExtract has its own
	Format   string         // "", "pem", "pfx"
	Encoding string         // "", "utf-8", "base64", "hex"
	CertPart vocab.CertPart // "", "chain", "key" (kvcsi extension)
	// Split asks for <path>.crt and <path>.key companions for this object (kvcsi
	// extension); ORed with Options.WriteCertAndKeySeparately.
	Split bool
	// ConvertPFX converts a plain secret of content type application/x-pkcs12 as
	// if it were a certificate's secret (kvcsi extension).
	ConvertPFX bool
	JSON       []JSONExtract // kvcsi extension
}

// JSONExtract is one value extracted from a JSON secret into its own file.
type JSONExtract struct {
	Path  string      // JMESPath expression
	Query *JSONQuery  // Path compiled by CompileJSONPath; nil compiles Path here
	Alias string      // output path, relative to the mount
	Mode  fs.FileMode // 0 means Request.Mode
}

// Render returns the files for one fetched object version, in the Azure provider's
// order — <path>.crt, <path>.key, <path> — then one file per JSON extraction, or an
// error (an *Error) that names the object and says what to fix.
//
// The JSON extractions read the main file's bytes after objectEncoding is applied:
// a base64-encoded JSON secret with objectEncoding base64 is parsed as the JSON it
// encodes. Their files are written as extracted, with no encoding applied.
func Render(req Request, f Fetched, opts Options) ([]vocab.File, error) {
	r := renderer{req: req, f: f, opts: opts}
	r.req.Format = strings.ToLower(req.Format)
	r.req.Encoding = strings.ToLower(req.Encoding)
	r.req.CertPart = vocab.CertPart(strings.ToLower(string(req.CertPart)))
	return r.render()
}

type renderer struct {
	req    Request
	f      Fetched
	opts   Options
	pemOut bool // a certificate's secret written as PEM
}

func (r *renderer) fail(reason, fix string, err error) error {
	return &Error{Type: r.f.Type, Object: r.f.Name, Reason: reason, Fix: fix, Err: err}
}

func (r *renderer) render() ([]vocab.File, error) {
	if err := r.checkRequest(); err != nil {
		return nil, err
	}
	var (
		main   []byte
		parts  [][]byte // .crt and .key companions, if any
		err    error
		suffix = []string{".crt", ".key"}
	)
	switch r.f.Type {
	case vocab.Secret:
		main, parts, err = r.secret()
	case vocab.Key:
		main, err = r.key()
	case vocab.Cert:
		main, err = r.cert()
	}
	if err != nil {
		return nil, err
	}

	files := make([]vocab.File, 0, len(parts)+1+len(r.req.JSON))
	for i, p := range parts {
		files = append(files, vocab.File{Path: r.req.Path + suffix[i], Mode: r.req.Mode, Contents: p})
	}
	files = append(files, vocab.File{Path: r.req.Path, Mode: r.req.Mode, Contents: main})
	// Encoding applies to every file of the object, companions included, as upstream.
	for i := range files {
		if files[i].Contents, err = Decode(files[i].Contents, r.req.Encoding); err != nil {
			return nil, r.fail("objectEncoding "+r.req.Encoding+" cannot decode "+r.describe(files[i].Path), r.encodingFix(), err)
		}
	}
	main = files[len(files)-1].Contents

	for _, x := range r.req.JSON {
		var out []byte
		if x.Query != nil {
			out, err = x.Query.Extract(main)
		} else {
			out, err = ExtractJSON(main, x.Path)
		}
		if err != nil {
			return nil, r.fail(fmt.Sprintf("jmesPath %q (objectAlias %q)", x.Path, x.Alias), jsonFix(err), err)
		}
		mode := x.Mode
		if mode == 0 {
			mode = r.req.Mode
		}
		files = append(files, vocab.File{Path: x.Alias, Mode: mode, Contents: out})
	}
	return files, nil
}

func (r *renderer) describe(path string) string {
	if path == r.req.Path {
		return "the value"
	}
	return "the " + strings.TrimPrefix(path, r.req.Path) + " companion"
}

func (r *renderer) encodingFix() string {
	if r.pemOut {
		return "a certificate is written as PEM text, which is not " + r.req.Encoding + ": remove objectEncoding, " +
			"or set objectFormat: pfx with objectEncoding: base64 for a binary PFX"
	}
	if r.req.Format == FormatPFX && r.req.Encoding == EncodingHex {
		return "Key Vault stores a PFX as base64: use objectEncoding: base64"
	}
	return "store the value " + r.req.Encoding + "-encoded, or remove objectEncoding"
}

func jsonFix(err error) string {
	switch {
	case errors.Is(err, ErrNotJSON):
		return "store the secret as a JSON document, or remove the jmesPath entries"
	case errors.Is(err, ErrNoMatch):
		return "check the path against the secret's fields (names are case-sensitive)"
	}
	return "fix the JMESPath expression"
}

// checkRequest rejects what configuration validation should already have rejected,
// so that no combination of fields can make Render misbehave.
func (r *renderer) checkRequest() error {
	if !r.f.Type.Valid() {
		return r.fail("invalid vaultObjectTypes. Should be secret, key, or cert", "", nil)
	}
	if r.req.Path == "" {
		return r.fail("file name must not be empty", "set objectName or objectAlias", nil)
	}
	switch r.req.Format {
	case "", FormatPEM:
	case FormatPFX:
		if r.f.Type != vocab.Secret {
			return r.fail("PFX format only supported for objectType: secret", "remove objectFormat or set it to pem", nil)
		}
	default:
		return r.fail(fmt.Sprintf("invalid objectFormat: %s, should be PEM or PFX", r.req.Format), "", nil)
	}
	switch r.req.Encoding {
	case "", EncodingUTF8:
	case EncodingBase64, EncodingHex:
		if r.f.Type != vocab.Secret {
			return r.fail("objectEncoding only supported for objectType: secret", "remove objectEncoding", nil)
		}
	default:
		return r.fail(fmt.Sprintf("invalid objectEncoding: %s, should be hex, base64 or utf-8", r.req.Encoding), "", nil)
	}
	switch r.req.CertPart {
	case vocab.CertPartFull, vocab.CertPartChain, vocab.CertPartKey, vocab.CertPartCA:
	default:
		return r.fail(fmt.Sprintf("invalid certificatePart: %s, should be chain, key or ca", r.req.CertPart), "", nil)
	}
	if r.f.Type != vocab.Secret && (r.req.CertPart != "" || r.req.Split || r.req.ConvertPFX || len(r.req.JSON) > 0) {
		return r.fail("certificatePart, splitCertAndKey, convertPFXToPEM and jmesPath only apply to objectType: secret",
			"use objectType secret", nil)
	}
	if r.req.CertPart != "" && r.req.Split {
		return r.fail("certificatePart and splitCertAndKey cannot be combined", "use one of them", nil)
	}
	for _, x := range r.req.JSON {
		if x.Alias == "" {
			return r.fail(fmt.Sprintf("jmesPath %q has no objectAlias", x.Path), "give every jmesPath entry an objectAlias", nil)
		}
	}
	return nil
}

// secret renders objectType secret: the main content before encoding, and the
// .crt/.key companions if asked for.
func (r *renderer) secret() (main []byte, parts [][]byte, err error) {
	if r.f.Value == nil {
		return nil, nil, r.fail("secret value is nil", "", nil)
	}
	value := []byte(*r.f.Value)
	certBacked := r.f.KID != nil && *r.f.KID != ""
	if !certBacked && !r.req.ConvertPFX {
		// A plain secret: the value as is; objectFormat has no effect.
		if r.req.CertPart != "" || r.req.Split {
			return nil, nil, r.fail("certificatePart and splitCertAndKey apply only to a certificate's secret or, with convertPFXToPEM, to a PFX secret",
				"remove them, or upload the value as a Key Vault certificate", nil)
		}
		return value, nil, nil
	}

	if r.f.ContentType == nil {
		if !certBacked {
			return nil, nil, r.fail("convertPFXToPEM is set but the secret has no content type",
				"set the secret's content type to "+ContentTypePKCS12+", or remove convertPFXToPEM", nil)
		}
		return nil, nil, r.fail("failed to get certificate. the certificate's secret has no content type", "re-import the certificate", nil)
	}
	var isPEM bool
	switch ct := *r.f.ContentType; {
	case ct == ContentTypePKCS12 && r.req.Format == FormatPFX:
		main = value
	case ct == ContentTypePKCS12:
		pfx, err := Decode(value, EncodingBase64)
		if err != nil {
			return nil, nil, r.fail("the PFX is not valid base64", "re-import the certificate", err)
		}
		if main, err = PFXToPEM(pfx, r.opts.ConstructPEMChain); err != nil {
			return nil, nil, r.fail("converting the PFX to PEM", pfxFix(err), err)
		}
		isPEM = true
	case ct == ContentTypePEM && certBacked:
		main, isPEM = value, true
	case !certBacked:
		return nil, nil, r.fail(fmt.Sprintf("convertPFXToPEM is set but the secret's content type is '%s'", ct),
			"set the secret's content type to "+ContentTypePKCS12+", or remove convertPFXToPEM", nil)
	default:
		return nil, nil, r.fail(fmt.Sprintf("failed to get certificate. unknown content type '%s'", ct),
			"re-import the certificate as "+ContentTypePEM+" or "+ContentTypePKCS12, nil)
	}

	r.pemOut = isPEM
	if r.req.CertPart != "" {
		if !isPEM {
			return nil, nil, r.fail("certificatePart needs PEM output", "remove objectFormat: pfx or certificatePart", nil)
		}
		certs, keys := SplitPEM(main)
		switch r.req.CertPart {
		case vocab.CertPartChain:
			main = certs
		case vocab.CertPartCA:
			ca, err := CAPart(main)
			if err != nil {
				return nil, nil, r.fail("certificatePart ca", "import the certificate with its issuing chain, or use certificatePart: chain", err)
			}
			main = ca
		default:
			main = keys
		}
		if len(main) == 0 {
			return nil, nil, r.fail("certificatePart "+string(r.req.CertPart)+": the certificate has no such part",
				"check the certificate in Key Vault, or remove certificatePart", nil)
		}
		return main, nil, nil
	}
	// Deliberate fix (upstream #1277): PFX output is not PEM, so no empty companions.
	if (r.req.Split || r.opts.WriteCertAndKeySeparately) && isPEM {
		certs, keys := SplitPEM(main)
		parts = [][]byte{certs, keys}
	}
	return main, parts, nil
}

func pfxFix(err error) string {
	switch {
	case errors.Is(err, ErrPFXPassword):
		return "Key Vault certificates are exported without a password: re-import the PFX without one"
	case errors.Is(err, errNoCertificate):
		return "import a PFX that holds its certificate, or run the provider with --construct-pem-chain=false"
	case errors.Is(err, ErrChainCycle), errors.Is(err, ErrNoLeaf):
		return "the certificates' authority and subject key identifiers form a loop: fix the chain in the PFX, " +
			"or run the provider with --construct-pem-chain=false"
	}
	return "check that the secret holds a PKCS#12 file, or use objectFormat: pfx to write it unconverted"
}

func (r *renderer) key() ([]byte, error) {
	if r.f.Key == nil {
		return nil, r.fail("key value is nil", "", nil)
	}
	out, err := PublicKeyPEM(*r.f.Key)
	if err != nil {
		return nil, r.fail("converting the key to PEM", "", err)
	}
	return out, nil
}

func (r *renderer) cert() ([]byte, error) {
	if len(r.f.CER) == 0 {
		return nil, r.fail("certificate value is nil", "", nil)
	}
	return CertificatePEM(r.f.CER), nil
}
