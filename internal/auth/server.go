package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// ConfigureServer puts opts into operator mode for this deployment: the
// operator is trusted, a memory resolver holds the three account JWTs, and
// the system account is set. Every connection must then present a user JWT
// signed by one of the accounts (a credentials file); anonymous connections
// are refused by the server.
//
// opts must not carry other authentication (users, nkeys, accounts,
// tokens, an auth callout, trusted keys or a resolver): mixing is refused.
//
// With accounts, JetStream keeps each account's streams in
// <store_dir>/jetstream/<account public key>. If opts.StoreDir holds
// streams of the global account ($G) — a data directory from a version of
// hongbao without authentication — ConfigureServer returns an error
// wrapping [ErrLegacyStore] rather than starting with empty streams beside
// the old ones; see [MigrateLegacyStore].
func (d *Deployment) ConfigureServer(opts *server.Options) error {
	switch {
	case len(opts.Users) > 0, len(opts.Nkeys) > 0, len(opts.Accounts) > 0,
		opts.Username != "", opts.Authorization != "", opts.NoAuthUser != "",
		opts.AuthCallout != nil, len(opts.TrustedKeys) > 0, len(opts.TrustedOperators) > 0,
		opts.AccountResolver != nil:
		return fmt.Errorf("%w: the server options already configure authentication", ErrInvalid)
	}
	if opts.JetStream {
		if err := checkLegacyStore(opts.StoreDir); err != nil {
			return err
		}
	}
	res := &server.MemAccResolver{}
	for pub, ajwt := range d.accountJWTs {
		if err := res.Store(pub, ajwt); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	opts.TrustedOperators = []*jwt.OperatorClaims{d.operator}
	opts.AccountResolver = res
	opts.SystemAccount = d.SystemAccount
	return nil
}

// legacyDir is the directory of the global account's streams under a
// JetStream store_dir.
func legacyDir(storeDir string) string {
	return filepath.Join(storeDir, server.JetStreamStoreDir, server.DEFAULT_GLOBAL_ACCOUNT)
}

func checkLegacyStore(storeDir string) error {
	if storeDir == "" {
		return nil
	}
	dir := legacyDir(storeDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s holds streams written before authentication; with accounts they would be invisible to the service account, so the server was not started. Stop every hongbao instance, back the directory up, and move the streams to the service account (MigrateLegacyStore, or rename the directory to %s)",
		ErrLegacyStore, dir, filepath.Join(storeDir, server.JetStreamStoreDir, "<service account public key>"))
}

// MigrateLegacyStore moves the streams of the global account ($G) under
// storeDir to the service account, so that a data directory written before
// authentication keeps its streams. The server must not be running. It
// refuses when the service account already has a directory.
func (d *Deployment) MigrateLegacyStore(storeDir string) error {
	from := legacyDir(storeDir)
	to := filepath.Join(storeDir, server.JetStreamStoreDir, d.ServiceAccount)
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("auth: nothing to migrate: %w", err)
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("%w: %s already exists", ErrInvalid, to)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}
