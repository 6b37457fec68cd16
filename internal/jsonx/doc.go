// Package jsonx appends JSON values exactly as encoding/json's Marshal
// writes them, byte for byte, without reflection: for the hand-written
// encoders of hot paths (events as stored, projection rows, replies). Each
// function falls back to encoding/json for what it does not write itself,
// so its output never differs from json.Marshal's; the callers' tests hold
// their encoders to json.Marshal.
package jsonx
