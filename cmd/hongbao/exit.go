package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/embedded"
)

// Exit statuses of every command. They are defined here only; the
// top-level help and docs/operations.md are made from exitStatuses.
const (
	exitOK          = 0
	exitFound       = 1
	exitUsage       = 2
	exitUnavailable = 3
	exitFailed      = 4
)

var exitStatuses = []struct {
	code           int
	short, meaning string
}{
	{exitOK, "ok", "ok: the command did what was asked; a check found nothing wrong"},
	{exitFound, "a check found differences or discrepancies", "a check found something wrong: rebuild --verify found differing rows, reconcile or audit found discrepancies, bench saw wrong outcomes"},
	{exitUsage, "usage or configuration error", "usage: the command line, an environment variable or a configuration file is wrong"},
	{exitUnavailable, "cannot connect (NATS, service, data directory) or start", "unavailable: no NATS server or service answers, the data directory holds no data, or the embedded server cannot start (e.g. a port is taken)"},
	{exitFailed, "any other failure", "failed: anything else (e.g. no such envelope, a job failed, an I/O error)"},
}

// exitStatusSummary lists the exit statuses on one line, for the help.
func exitStatusSummary() string {
	parts := make([]string, len(exitStatuses))
	for i, e := range exitStatuses {
		parts[i] = fmt.Sprintf("%d %s", e.code, e.short)
	}
	return strings.Join(parts, "; ") + "."
}

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
