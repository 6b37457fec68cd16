package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/risk"
)

// riskCmd operates the risk controls of a running service: the blocklist
// lives in a key-value bucket that only the service writes, so every verb
// is a request to the service's admin endpoints (operator credentials).
type riskCmd struct {
	Block   riskBlockCmd   `cmd:"" help:"Block a user or sender: their wrap, open and shake answer 403 forbidden on every instance."`
	Unblock riskUnblockCmd `cmd:"" help:"Unblock a user or sender."`
	List    riskListCmd    `cmd:"" help:"List the blocked users and senders (or one of them)."`
}

// riskFlags are the flags every risk verb shares.
type riskFlags struct {
	NATSURL string        `name:"nats-url" env:"HONGBAO_NATS_URL,NATS_URL" placeholder:"URL" help:"NATS server of the running service. Unset: ${default_nats_url}."`
	Creds   string        `name:"creds" env:"HONGBAO_CREDS,NATS_CREDS" placeholder:"FILE" help:"NATS credentials file (operator.creds of the deployment)."`
	Prefix  string        `name:"prefix" default:"hongbao" help:"Subject prefix of the service."`
	Timeout time.Duration `name:"timeout" default:"5s" help:"How long to wait for the service's answer."`
	JSON    bool          `name:"json" help:"Print JSON."`
}

// call connects, runs f against the service and closes the connection.
func (f *riskFlags) call(e *runEnv, do func(ctx context.Context, nc *nats.Conn) error) error {
	c := connFlags{NATSURL: f.NATSURL, Creds: f.Creds}
	if c.NATSURL == "" {
		c.NATSURL = defaultNATSURL // the risk controls need a running service: no offline fallback
	}
	nc, err := c.dial("hongbao-risk", e.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(e.ctx, f.Timeout)
	defer cancel()
	if err := do(ctx, nc); err != nil {
		return unavailable(err)
	}
	return nil
}

type riskBlockCmd struct {
	riskFlags `embed:""`
	Name      string `arg:"" help:"User or sender to block."`
	Reason    string `name:"reason" help:"Why (kept with the entry)."`
}

func (c *riskBlockCmd) Run(e *runEnv) error {
	return c.call(e, func(ctx context.Context, nc *nats.Conn) error {
		ent, err := risk.Block(ctx, nc, c.Prefix, c.Name, c.Reason)
		if err != nil {
			return err
		}
		return printEntries(e, c.JSON, []risk.Entry{ent})
	})
}

type riskUnblockCmd struct {
	riskFlags `embed:""`
	Name      string `arg:"" help:"User or sender to unblock."`
}

func (c *riskUnblockCmd) Run(e *runEnv) error {
	return c.call(e, func(ctx context.Context, nc *nats.Conn) error {
		if err := risk.Unblock(ctx, nc, c.Prefix, c.Name); err != nil {
			return err
		}
		if c.JSON {
			return json.NewEncoder(e.stdout).Encode(map[string]string{"unblocked": c.Name})
		}
		_, err := fmt.Fprintf(e.stdout, "unblocked %s\n", c.Name)
		return err
	})
}

type riskListCmd struct {
	riskFlags `embed:""`
	Name      string `arg:"" optional:"" help:"Only this user or sender."`
}

func (c *riskListCmd) Run(e *runEnv) error {
	return c.call(e, func(ctx context.Context, nc *nats.Conn) error {
		ents, err := risk.List(ctx, nc, c.Prefix, c.Name)
		if err != nil {
			return err
		}
		return printEntries(e, c.JSON, ents)
	})
}

// printEntries prints blocklist entries, a line each or as JSON.
func printEntries(e *runEnv, asJSON bool, ents []risk.Entry) error {
	if asJSON {
		if ents == nil {
			ents = []risk.Entry{}
		}
		return json.NewEncoder(e.stdout).Encode(map[string]any{"blocked": ents})
	}
	if len(ents) == 0 {
		_, err := fmt.Fprintln(e.stdout, "nobody is blocked")
		return err
	}
	for _, ent := range ents {
		if _, err := fmt.Fprintf(e.stdout, "blocked %s since %s %s\n", ent.Name, ent.At, ent.Reason); err != nil {
			return err
		}
	}
	return nil
}
