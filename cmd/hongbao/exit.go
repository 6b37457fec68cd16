package main

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/embedded"
)

// Exit statuses of every command. They are the one place these numbers
// are defined; docs/operations.md and `hongbao -h` list them.
const (
	// exitOK: the command did what was asked; a check found nothing wrong.
	exitOK = 0
	// exitFound: a check found something wrong: rebuild --verify found
	// differing rows, reconcile or audit found discrepancies, bench saw
	// wrong outcomes.
	exitFound = 1
	// exitUsage: the command line or a configuration file is wrong.
	exitUsage = 2
	// exitUnavailable: no NATS server or service could be reached, a data
	// directory is missing, or the embedded server could not start (e.g. a
	// port is taken).
	exitUnavailable = 3
	// exitFailed: the command failed on the way (anything else).
	exitFailed = 4
)

const exitStatusSummary = "0 ok; 1 a check found differences or discrepancies; 2 usage or configuration error; " +
	"3 cannot connect (NATS, service, data directory) or start; 4 any other failure."

// exitError gives an error its exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}

func unavailable(err error) error { return &exitError{exitUnavailable, err} }

func unavailablef(format string, a ...any) error {
	return &exitError{exitUnavailable, fmt.Errorf(format, a...)}
}

func found(err error) error { return &exitError{exitFound, err} }

// exitCode classifies err.
func exitCode(err error) int {
	if e, ok := errorsAs[*exitError](err); ok {
		return e.code
	}
	switch {
	case errors.Is(err, embedded.ErrConfig):
		return exitUsage
	case errors.Is(err, embedded.ErrStart), errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrAuthorization):
		return exitUnavailable
	}
	return exitFailed
}

// pkgPrefix matches the Go package prefixes errors carry by convention
// ("embedded: ", "nats: ", "envelope: "), at the start of the message or
// of a wrapped part of it.
var pkgPrefix = regexp.MustCompile(`(^|: )(aggregates|api|app|bench|dispatch|embedded|envelope|eventstore|events|jetstream|ledger|micro|nats|ops|pebble|projections|projector|reconcile|service|tickets|timers|topology|kong): `)

// userMessage is err's message as the user should read it: without the Go
// package prefixes the packages put on their errors.
func userMessage(err error) string {
	msg := err.Error()
	for {
		next := pkgPrefix.ReplaceAllString(msg, "$1")
		if next == msg {
			return msg
		}
		msg = next
	}
}
