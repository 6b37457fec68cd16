package auth

import "github.com/nats-io/jwt/v2"

// Rule is one line of a role's permissions: who may publish or subscribe to
// a subject, allowed or denied, and why. The JWTs are built from these rules
// and docs/security.md lists the same rules (a test keeps them in step).
type Rule struct {
	Role    string // "client", "operator" or "service-export"
	Kind    string // "pub", "sub" or "export"
	Access  string // "allow" or "deny"
	Subject string
	Why     string
}

// Role names, as used in [Rule.Role] and in the credentials files' names.
const (
	RoleClient   = "client"
	RoleOperator = "operator"
	RoleService  = "service"
	// RoleExport marks the rules that are service exports of the service
	// account (and imports of the clients account), not user permissions.
	RoleExport = "service-export"
)

// ServiceSubjects are the request subjects of the contract (api.md) that the
// service account exports and the clients account imports, for the given
// subject prefix. Nothing else of the service account is visible to clients.
func ServiceSubjects(prefix string) []string {
	return []string{
		prefix + ".wrap",
		prefix + ".pay.*",
		prefix + ".grab.*",
		prefix + ".open.*",
		prefix + ".get.*",
		prefix + ".user.*",
		prefix + ".wallet.*",
		prefix + ".campaign.>",
		prefix + ".shake.*",
	}
}

// Rules returns every rule this package grants, in a fixed order.
func Rules(prefix string) []Rule {
	var rs []Rule
	for _, s := range ServiceSubjects(prefix) {
		rs = append(rs, Rule{RoleExport, "export", "allow", s,
			"a request endpoint of the contract, exported by the service account and imported by the clients account"})
	}
	for _, s := range ServiceSubjects(prefix) {
		rs = append(rs, Rule{RoleClient, "pub", "allow", s, "request the contract's endpoint (crosses the import into the service account)"})
	}
	rs = append(rs, Rule{RoleClient, "sub", "allow", "_INBOX.>", "receive the replies to its requests"})

	op := func(kind, access, subj, why string) {
		rs = append(rs, Rule{RoleOperator, kind, access, subj, why})
	}
	op("pub", "allow", prefix+".admin.>", "the admin endpoints: status, rebuild, verify, reconcile, audit")
	for _, verb := range []string{"PING", "INFO", "STATS"} {
		op("pub", "allow", "$SRV."+verb, "micro discovery (nats micro ls/info/stats) of all services")
		op("pub", "allow", "$SRV."+verb+".>", "micro discovery of one service by name or name and id")
	}
	op("pub", "allow", "$JS.API.INFO", "JetStream account info (usage, limits) for status")
	op("pub", "allow", "$JS.API.STREAM.NAMES", "list the streams (audit, status)")
	op("pub", "allow", "$JS.API.STREAM.LIST", "list the streams with their state")
	op("pub", "allow", "$JS.API.STREAM.INFO.*", "a stream's configuration and state (message counts, sequences)")
	op("pub", "allow", "$JS.API.STREAM.MSG.GET.*", "read one message by sequence or last-by-subject (verify, audit)")
	op("pub", "allow", "$JS.API.DIRECT.GET.*", "direct get of one message (streams with allow_direct, KV reads)")
	op("pub", "allow", "$JS.API.DIRECT.GET.*.>", "direct get, last message of a subject")
	op("pub", "allow", "$JS.API.CONSUMER.CREATE.*", "create an ephemeral consumer (legacy form; the server refuses durable names here)")
	op("pub", "allow", "$JS.API.CONSUMER.CREATE.*.*", "create a named ephemeral/ordered consumer (nats.go jetstream OrderedConsumer)")
	op("pub", "allow", "$JS.API.CONSUMER.CREATE.*.*.>", "create a named ephemeral/ordered consumer with one filter subject")
	op("pub", "allow", "$JS.API.CONSUMER.INFO.*.*", "state of a consumer (its own, or the service's durables for status)")
	op("pub", "allow", "$JS.API.CONSUMER.NAMES.*", "list consumers (status: projection and dispatch lag)")
	op("pub", "allow", "$JS.API.CONSUMER.LIST.*", "list consumers with their state")
	op("pub", "allow", "$JS.API.CONSUMER.MSG.NEXT.*.*", "pull the next messages of its (ordered) consumer")
	op("pub", "allow", "$JS.FC.>", "flow-control replies of push (legacy ordered) consumers")
	op("sub", "allow", "_INBOX.>", "replies to its requests, and the messages of its consumers")
	// Denials repeat, for defence in depth, what the allow-list already
	// refuses: should the allow-list ever be widened (say to $JS.API.>),
	// these still win.
	for _, s := range []string{
		"envelope.>", "ledger.>", "$KV.>",
		"$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.DELETE.>",
		"$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.MSG.DELETE.>", "$JS.API.STREAM.RESTORE.>",
		"$JS.API.CONSUMER.DURABLE.CREATE.>", "$JS.API.CONSUMER.DELETE.>", "$JS.ACK.>",
	} {
		op("pub", "deny", s, "defence in depth: operators never append, alter or remove events, streams, buckets or the service's consumers")
	}
	return rs
}

// permissions builds a role's user permissions from [Rules].
func permissions(prefix, role string) jwt.Permissions {
	var p jwt.Permissions
	for _, r := range Rules(prefix) {
		if r.Role != role {
			continue
		}
		var ps *jwt.Permission
		switch r.Kind {
		case "pub":
			ps = &p.Pub
		case "sub":
			ps = &p.Sub
		default:
			continue
		}
		if r.Access == "allow" {
			ps.Allow.Add(r.Subject)
		} else {
			ps.Deny.Add(r.Subject)
		}
	}
	return p
}
