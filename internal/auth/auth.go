package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Names of the operator and accounts written into the JWTs.
const (
	OperatorName       = "hongbao"
	SystemAccountName  = "SYS"
	ServiceAccountName = "HONGBAO"
	ClientsAccountName = "CLIENTS"
)

// File names under the auth directory.
const (
	ServiceCredsFile  = "service.creds"
	OperatorCredsFile = "operator.creds"
	ClientCredsFile   = "client.creds"
	operatorSeedFile  = "operator.nk"
	operatorJWTFile   = "operator.jwt"
)

// Sentinel errors; errors returned by this package wrap one of them.
var (
	// ErrIncomplete reports an auth directory with some but not all of its
	// files: Ensure never regenerates over what may be live credentials.
	ErrIncomplete = errors.New("auth: incomplete auth directory")
	// ErrInvalid reports files that do not fit together (wrong signer,
	// other prefix, unreadable JWT).
	ErrInvalid = errors.New("auth: invalid auth directory")
	// ErrInsecure reports a file or directory others than the owner can
	// read or write.
	ErrInsecure = errors.New("auth: auth files are accessible to others than the owner")
	// ErrLegacyStore reports JetStream data written without accounts ($G).
	ErrLegacyStore = errors.New("auth: the JetStream store holds streams of the global account ($G)")
)

// Deployment is the set of keys, JWTs and credentials of one deployment.
type Deployment struct {
	// Dir is the auth directory; Prefix the subject prefix the service
	// account exports.
	Dir, Prefix string
	// Paths of the credentials files, one per role.
	ServiceCreds, OperatorCreds, ClientCreds string
	// Public keys of the operator and of the accounts.
	OperatorKey, SystemAccount, ServiceAccount, ClientsAccount string

	operator    *jwt.OperatorClaims
	accountJWTs map[string]string // public key -> account JWT
}

// accountNames in a fixed order; their files are <name>.nk and <name>.jwt.
var accountNames = []string{SystemAccountName, ServiceAccountName, ClientsAccountName}

// files lists every file of a complete auth directory.
func files() []string {
	fs := []string{operatorSeedFile, operatorJWTFile}
	for _, a := range accountNames {
		fs = append(fs, a+".nk", a+".jwt")
	}
	return append(fs, ServiceCredsFile, OperatorCredsFile, ClientCredsFile)
}

// Ensure returns the deployment kept in dir, generating it when dir holds
// none of its files. prefix is the subject prefix of the contract
// ("hongbao"). A directory with only some of the files is an error
// ([ErrIncomplete]), never silently regenerated: the credentials may be in
// use. Files are written with mode 0600 and dir with 0700.
func Ensure(dir, prefix string) (*Deployment, error) {
	if prefix == "" || strings.ContainsAny(prefix, "*> \t") {
		return nil, fmt.Errorf("%w: bad subject prefix %q", ErrInvalid, prefix)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var present, missing []string
	for _, f := range files() {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			present = append(present, f)
		} else if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, f)
		} else {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	switch {
	case len(present) == 0:
		// A directory that existed before (say, created by an installer)
		// is narrowed to its owner before any secret goes into it.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		if err := generate(dir, prefix); err != nil {
			return nil, err
		}
	case len(missing) > 0:
		return nil, fmt.Errorf("%w: %s lacks %s; restore them from a backup, or, if no credentials of this directory were handed out, remove the directory to generate new ones",
			ErrIncomplete, dir, strings.Join(missing, ", "))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v (want 0700)", ErrInsecure, dir, fi.Mode().Perm())
	}
	return load(dir, prefix)
}

// generate creates all keys, JWTs and credentials in dir. Each file is
// created exclusively, so a concurrent or earlier generation is never
// overwritten.
func generate(dir, prefix string) error {
	okp, err := nkeys.CreateOperator()
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	opub, _ := okp.PublicKey()
	keys := map[string]nkeys.KeyPair{}
	pubs := map[string]string{}
	for _, a := range accountNames {
		kp, err := nkeys.CreateAccount()
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		keys[a] = kp
		pubs[a], _ = kp.PublicKey()
	}

	oc := jwt.NewOperatorClaims(opub)
	oc.Name = OperatorName
	oc.SystemAccount = pubs[SystemAccountName]
	ojwt, err := encode(oc, okp)
	if err != nil {
		return err
	}

	ajwts := map[string]string{}
	for _, a := range accountNames {
		ac := jwt.NewAccountClaims(pubs[a])
		ac.Name = a
		switch a {
		case ServiceAccountName:
			// JetStream on, bounded by the server's max_file_store and
			// max_memory_store rather than by the account.
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{
				MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
				Streams: jwt.NoLimit, Consumer: jwt.NoLimit,
			}
			for _, s := range ServiceSubjects(prefix) {
				ac.Exports.Add(&jwt.Export{Name: s, Subject: jwt.Subject(s), Type: jwt.Service})
			}
		case ClientsAccountName:
			for _, s := range ServiceSubjects(prefix) {
				ac.Imports.Add(&jwt.Import{Name: s, Subject: jwt.Subject(s), Account: pubs[ServiceAccountName], Type: jwt.Service})
			}
		}
		if ajwts[a], err = encode(ac, okp); err != nil {
			return err
		}
	}

	creds := map[string][]byte{}
	for _, u := range []struct{ file, role, account string }{
		{ServiceCredsFile, RoleService, ServiceAccountName},
		{OperatorCredsFile, RoleOperator, ServiceAccountName},
		{ClientCredsFile, RoleClient, ClientsAccountName},
	} {
		ukp, err := nkeys.CreateUser()
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		upub, _ := ukp.PublicKey()
		useed, _ := ukp.Seed()
		uc := jwt.NewUserClaims(upub)
		uc.Name = u.role
		if u.role != RoleService {
			uc.Permissions = permissions(prefix, u.role)
		}
		ujwt, err := encode(uc, keys[u.account])
		if err != nil {
			return err
		}
		if creds[u.file], err = jwt.FormatUserConfig(ujwt, useed); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}

	oseed, _ := okp.Seed()
	type file struct {
		name string
		data []byte
	}
	out := []file{{operatorSeedFile, oseed}, {operatorJWTFile, []byte(ojwt)}}
	for _, a := range accountNames {
		seed, _ := keys[a].Seed()
		out = append(out, file{a + ".nk", seed}, file{a + ".jwt", []byte(ajwts[a])})
	}
	// The credentials last: a crash before them leaves ErrIncomplete, and
	// none were handed out yet.
	for _, f := range []string{ServiceCredsFile, OperatorCredsFile, ClientCredsFile} {
		out = append(out, file{f, creds[f]})
	}
	for _, o := range out {
		if err := writeExclusive(filepath.Join(dir, o.name), o.data); err != nil {
			return err
		}
	}
	return nil
}

type encoder interface {
	Encode(nkeys.KeyPair) (string, error)
	Validate(*jwt.ValidationResults)
}

func encode(c encoder, kp nkeys.KeyPair) (string, error) {
	var vr jwt.ValidationResults
	c.Validate(&vr)
	if vr.IsBlocking(true) {
		return "", fmt.Errorf("%w: %v", ErrInvalid, vr.Errors())
	}
	s, err := c.Encode(kp)
	if err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	return s, nil
}

func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("auth: %s: %w", path, err)
	}
	return nil
}

// readPrivate reads a file that must be accessible to its owner only.
func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v (want 0600)", ErrInsecure, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return b, nil
}

// load reads a complete auth directory and checks that its parts belong
// together: the operator signed the accounts, each account key signed its
// users, and the service account exports prefix's subjects.
func load(dir, prefix string) (*Deployment, error) {
	bad := func(format string, a ...any) (*Deployment, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, dir, fmt.Sprintf(format, a...))
	}
	read := func(name string) (string, error) {
		b, err := readPrivate(filepath.Join(dir, name))
		return strings.TrimSpace(string(b)), err
	}
	seedPub := func(name string) (string, error) {
		s, err := read(name)
		if err != nil {
			return "", err
		}
		kp, err := nkeys.FromSeed([]byte(s))
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
		}
		return kp.PublicKey()
	}

	opub, err := seedPub(operatorSeedFile)
	if err != nil {
		return nil, err
	}
	ojwt, err := read(operatorJWTFile)
	if err != nil {
		return nil, err
	}
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		return bad("%s: %v", operatorJWTFile, err)
	}
	if oc.Subject != opub || oc.Issuer != opub {
		return bad("%s is not signed by %s", operatorJWTFile, operatorSeedFile)
	}
	d := &Deployment{
		Dir: dir, Prefix: prefix, OperatorKey: opub, operator: oc,
		ServiceCreds:  filepath.Join(dir, ServiceCredsFile),
		OperatorCreds: filepath.Join(dir, OperatorCredsFile),
		ClientCreds:   filepath.Join(dir, ClientCredsFile),
		accountJWTs:   map[string]string{},
	}
	pubs := map[string]string{}
	for _, a := range accountNames {
		apub, err := seedPub(a + ".nk")
		if err != nil {
			return nil, err
		}
		ajwt, err := read(a + ".jwt")
		if err != nil {
			return nil, err
		}
		ac, err := jwt.DecodeAccountClaims(ajwt)
		if err != nil {
			return bad("%s.jwt: %v", a, err)
		}
		if ac.Subject != apub || ac.Issuer != opub {
			return bad("%s.jwt does not match %s.nk or is not signed by the operator", a, a)
		}
		if a == ServiceAccountName {
			var exported []string
			for _, e := range ac.Exports {
				exported = append(exported, string(e.Subject))
			}
			want := ServiceSubjects(prefix)
			slices.Sort(exported)
			slices.Sort(want)
			if !slices.Equal(exported, want) {
				return bad("the service account exports %v, not the subjects of prefix %q", exported, prefix)
			}
		}
		pubs[a] = apub
		d.accountJWTs[apub] = ajwt
	}
	if oc.SystemAccount != pubs[SystemAccountName] {
		return bad("the operator's system account is not %s", SystemAccountName)
	}
	d.SystemAccount, d.ServiceAccount, d.ClientsAccount = pubs[SystemAccountName], pubs[ServiceAccountName], pubs[ClientsAccountName]

	for _, c := range []struct{ path, account string }{
		{d.ServiceCreds, d.ServiceAccount}, {d.OperatorCreds, d.ServiceAccount}, {d.ClientCreds, d.ClientsAccount},
	} {
		b, err := readPrivate(c.path)
		if err != nil {
			return nil, err
		}
		ujwt, err := jwt.ParseDecoratedJWT(b)
		if err != nil {
			return bad("%s: %v", c.path, err)
		}
		uc, err := jwt.DecodeUserClaims(ujwt)
		if err != nil {
			return bad("%s: %v", c.path, err)
		}
		if uc.Issuer != c.account {
			return bad("%s is not signed by its account", c.path)
		}
		if _, err := jwt.ParseDecoratedUserNKey(b); err != nil {
			return bad("%s: %v", c.path, err)
		}
	}
	return d, nil
}
