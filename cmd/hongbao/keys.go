package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/topology"
)

// keysCmd lists what tamper evidence trusts (internal/seal): the instance
// keys that may sign appends, and where each stream's signing begins.
type keysCmd struct {
	connFlags `embed:""`
	JSON      bool `name:"json" help:"Print JSON."`
}

func (*keysCmd) Help() string {
	return `Lists the public keys of the instances that sign appended events and ledger
entries (bucket HONGBAO_KEYS), and for each stream the first sequence that must
be signed: an event after it that no listed key signed is reported as forged by
reconcile and audit and parked by the views, never credited.`
}

func (c *keysCmd) Run(e *runEnv) error {
	sc, err := c.connectStore(e.ctx, "hongbao-keys", e.stderr)
	if err != nil {
		return err
	}
	defer sc.close()
	regs, from, err := seal.Trusted(e.ctx, sc.js, topology.Default().KeysBucket())
	if err != nil {
		return unavailable(err)
	}
	if c.JSON {
		if regs == nil {
			regs = []seal.Registration{}
		}
		return json.NewEncoder(e.stdout).Encode(map[string]any{"keys": regs, "signed_from": from})
	}
	if len(regs) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no instance key registered: nothing was ever signed")
		return err
	}
	for _, r := range regs {
		fmt.Fprintf(e.stdout, "key %s  instance %s  registered %s\n", r.Key, r.Instance, r.RegisteredAt.UTC().Format(time.RFC3339))
	}
	streams := make([]string, 0, len(from))
	for s := range from {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	for _, s := range streams {
		fmt.Fprintf(e.stdout, "stream %s signed from seq %d\n", s, from[s])
	}
	return nil
}
