package main

import (
	"fmt"
	"path/filepath"

	"github.com/hongbao/hongbao/internal/embedded"
)

// authCmd manages the credentials of a deployment with the embedded
// server (internal/auth, docs/security.md).
type authCmd struct {
	Migrate authMigrateCmd `cmd:"" help:"Move the streams of a data directory written before authentication into the service account (once, with the service stopped)."`
}

type authMigrateCmd struct {
	Data   string `name:"data" default:"./data" placeholder:"DIR" help:"Data directory of the stopped service; its credentials are under <data>/auth (generated when absent)."`
	Config string `name:"config" placeholder:"FILE" help:"Embedded server configuration. Unset: ./nats.conf when present, else built-in defaults equal to the repository's nats.conf."`
	Prefix string `name:"prefix" default:"hongbao" help:"Subject prefix of the service (the credentials' exports)."`
}

func (*authMigrateCmd) Help() string {
	return `A data directory written by a hongbao without authentication keeps its
streams in NATS's global account; with credentials they belong to the service
account, and serve refuses to start on the old layout rather than serve empty
streams beside it. This moves them, once. Back up <data> first; keep
<data>/auth with the data from then on (its service account owns the streams).`
}

func (c *authMigrateCmd) Run(e *runEnv) error {
	data := filepath.Clean(c.Data)
	cf := connFlags{Data: data}
	if err := cf.checkData(); err != nil {
		return err
	}
	dir, err := embedded.MigrateLegacyStore(embedded.Config{ConfigFile: natsConfFile(c.Config), StoreDir: data,
		AuthDir: filepath.Join(data, "auth"), AuthPrefix: c.Prefix})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "streams moved to %s; start the service with `hongbao serve --data %s`\n", dir, data)
	return err
}
