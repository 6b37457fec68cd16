package main

import (
	"fmt"

	"github.com/alecthomas/kong"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/cmd/hongbao/internal/bench"
	"github.com/hongbao/hongbao/risk"
)

// defaultVars are the defaults the flags take from the packages that own
// them, for the ${...} in the cli struct's tags.
func defaultVars() kong.Vars {
	lim := envelope.DefaultLimits()
	b := bench.DefaultConfig()
	return kong.Vars{
		"default_nats_url": defaultNATSURL,
		"views":            viewNames(),

		"pay_timeout": lim.PayTimeout.String(),
		"expiry":      lim.Expiry.String(),
		"max_count":   fmt.Sprint(lim.MaxCount),
		"max_share":   fmt.Sprint(lim.MaxShare),

		"risk_wrap_limit":  risk.DefaultWrapLimit.String(),
		"risk_open_limit":  risk.DefaultOpenLimit.String(),
		"risk_shake_limit": risk.DefaultShakeLimit.String(),

		"bench_prefix":            b.Prefix,
		"bench_clients":           fmt.Sprint(b.Clients),
		"bench_envelopes":         fmt.Sprint(b.Envelopes),
		"bench_opens":             fmt.Sprint(b.Opens),
		"bench_count":             fmt.Sprint(b.Count),
		"bench_total":             fmt.Sprint(b.Total),
		"bench_hot_count":         fmt.Sprint(b.HotCount),
		"bench_hot_openers":       fmt.Sprint(b.HotOpeners),
		"bench_hot_rounds":        fmt.Sprint(b.HotRounds),
		"bench_grabs":             fmt.Sprint(b.Grabs),
		"bench_grab_envelopes":    fmt.Sprint(b.GrabEnvelopes),
		"bench_wraps":             fmt.Sprint(b.Wraps),
		"bench_storage_msgs":      fmt.Sprint(b.StorageMsgs),
		"bench_storage_in_flight": fmt.Sprint(b.StoragePend),
		"bench_storage_size":      fmt.Sprint(b.StorageSize),
		"bench_rebuild_events":    fmt.Sprint(b.RebuildEvents),
		"bench_preload":           fmt.Sprint(b.Preload),
		"bench_request_timeout":   b.RequestTimeout.String(),
		"bench_timeout":           b.Timeout.String(),
	}
}
