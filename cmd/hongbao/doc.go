// Command hongbao runs and operates the hongbao red-envelope service.
//
//	hongbao serve       run an instance (embedded NATS from nats.conf, or --nats-url)
//	hongbao status      the read models' lag, the dispatcher, the last reconciliation
//	hongbao rebuild     rebuild read models from the stream and swap them in (--verify: compare)
//	hongbao reconcile   replay ENVELOPES against LEDGER and prove I1–I5 (--repair)
//	hongbao audit       one envelope's history, transfers, re-derived shares and verdict
//	hongbao bench       load against a real instance, with the machine's ceilings
//	hongbao version     print the version
//	hongbao completion  print a shell completion script (bash, zsh, fish)
//
// The command line is parsed by github.com/alecthomas/kong from the cli
// struct (main.go): every command explains its flags with -h, every flag
// can be set by an environment variable (HONGBAO_<FLAG>; NATS_URL and
// NATS_CREDS for the connection), and docs/operations.md is generated from
// the same model. Exit statuses are defined in exit.go.
package main
