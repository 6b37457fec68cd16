// Package rowtest checks row types' hand-written encoders for the
// projections' tests: JSON ones (projector.JSONAppender) against
// json.Marshal, binary ones (projector.RowCodec) by the round trip.
package rowtest
