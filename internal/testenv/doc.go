// Package testenv starts a whole hongbao for tests: a real embedded JetStream
// server (internal/natstest), the service, and its projections in Pebble on
// t.TempDir(), with a client connection and helpers that speak the API
// contract. No mocks: every request goes over NATS.
package testenv
