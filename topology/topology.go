package topology

import "strconv"

// Today's names: what the zero Topology means.
const (
	DefaultEnvelopeStream = "ENVELOPES"
	DefaultLedgerStream   = "LEDGER"
	DefaultEnvelopePrefix = "envelope"
	DefaultLedgerPrefix   = "ledger"
	DefaultCampaignStream = "CAMPAIGNS"
	DefaultCampaignPrefix = "campaign"
)

// The deployment's key-value buckets.
const (
	timersBucket   = "HONGBAO_TIMERS"
	dispatchBucket = "HONGBAO_DISPATCH"
	wrapsBucket    = "HONGBAO_WRAPS"
	riskBucket     = "HONGBAO_RISK"
	keysBucket     = "HONGBAO_KEYS"
)

// Topology names a deployment's streams, subjects and buckets. The zero
// value of each field means its default; the zero Topology is Default().
type Topology struct {
	EnvelopeStreamName string // default "ENVELOPES"
	LedgerStreamName   string // default "LEDGER"
	// EnvelopePrefix is the first token of envelope subjects: an
	// envelope's events go to <EnvelopePrefix>.<id>. Default "envelope".
	EnvelopePrefix string
	// LedgerPrefix is the first token of ledger subjects: an escrow's
	// entries go to <LedgerPrefix>.escrow.<id>. Default "ledger".
	LedgerPrefix string
	// CampaignStreamName is the stream of shake campaigns' events.
	// Default "CAMPAIGNS".
	CampaignStreamName string
	// CampaignPrefix is the first token of campaign subjects: a
	// campaign's own events go to <CampaignPrefix>.<id>, slice k's to
	// <CampaignPrefix>.<id>.slice.<k>. Default "campaign".
	CampaignPrefix string
}

// Default is today's deployment: one partition, ENVELOPES on envelope.>,
// LEDGER on ledger.>.
func Default() Topology {
	return Topology{
		EnvelopeStreamName: DefaultEnvelopeStream,
		LedgerStreamName:   DefaultLedgerStream,
		EnvelopePrefix:     DefaultEnvelopePrefix,
		LedgerPrefix:       DefaultLedgerPrefix,
		CampaignStreamName: DefaultCampaignStream,
		CampaignPrefix:     DefaultCampaignPrefix,
	}
}

// WithDefaults returns t with every empty field set to its default.
func (t Topology) WithDefaults() Topology {
	d := Default()
	if t.EnvelopeStreamName == "" {
		t.EnvelopeStreamName = d.EnvelopeStreamName
	}
	if t.LedgerStreamName == "" {
		t.LedgerStreamName = d.LedgerStreamName
	}
	if t.EnvelopePrefix == "" {
		t.EnvelopePrefix = d.EnvelopePrefix
	}
	if t.LedgerPrefix == "" {
		t.LedgerPrefix = d.LedgerPrefix
	}
	if t.CampaignStreamName == "" {
		t.CampaignStreamName = d.CampaignStreamName
	}
	if t.CampaignPrefix == "" {
		t.CampaignPrefix = d.CampaignPrefix
	}
	return t
}

// Partitions is how many partitions the money streams are split into:
// 1 today.
func (t Topology) Partitions() int { return 1 }

// Partition is the partition of an envelope, in [0, Partitions()): 0
// today. Partitioning will make it a hash of the id, the same the server's
// subject mapping uses.
func (t Topology) Partition(envelopeID string) int { return 0 }

// EnvelopeStream is the name of partition p's stream of envelope events.
func (t Topology) EnvelopeStream(p int) string {
	return partitioned(t.WithDefaults().EnvelopeStreamName, p, t.Partitions())
}

// LedgerStream is the name of partition p's ledger stream.
func (t Topology) LedgerStream(p int) string {
	return partitioned(t.WithDefaults().LedgerStreamName, p, t.Partitions())
}

// partitioned is a stream's name for partition p of n: the name itself
// while there is one partition, name_<p> beyond.
func partitioned(name string, p, n int) string {
	if n <= 1 {
		return name
	}
	return name + "_" + strconv.Itoa(p)
}

// EnvelopeSubject is the subject of an envelope's events.
func (t Topology) EnvelopeSubject(envelopeID string) string {
	return t.WithDefaults().EnvelopePrefix + "." + envelopeID
}

// EnvelopeFilter selects the subjects of every envelope's events.
func (t Topology) EnvelopeFilter() string { return t.WithDefaults().EnvelopePrefix + ".>" }

// EscrowSubject is the subject of an envelope's escrow entries;
// EscrowSubject("") is what comes before the envelope id.
func (t Topology) EscrowSubject(envelopeID string) string {
	return t.WithDefaults().LedgerPrefix + ".escrow." + envelopeID
}

// LedgerFilter selects the subjects of the ledger streams.
func (t Topology) LedgerFilter() string { return t.WithDefaults().LedgerPrefix + ".>" }

// CampaignStream is the name of partition p's stream of campaign events.
func (t Topology) CampaignStream(p int) string {
	return partitioned(t.WithDefaults().CampaignStreamName, p, t.Partitions())
}

// CampaignSubject is the subject of a campaign's own events (created,
// paid, paused, resumed, cancelled, ended).
func (t Topology) CampaignSubject(campaignID string) string {
	return t.WithDefaults().CampaignPrefix + "." + campaignID
}

// SliceSubject is the subject of slice k of a campaign: its
// tickets_reserved, ticket_opened and slice_closed events.
func (t Topology) SliceSubject(campaignID string, k int) string {
	return t.CampaignSubject(campaignID) + ".slice." + strconv.Itoa(k)
}

// CampaignFilter selects the subjects of every campaign's events.
func (t Topology) CampaignFilter() string { return t.WithDefaults().CampaignPrefix + ".>" }

// CampaignEscrowSubject is the subject of a campaign's escrow entries in
// the ledger stream.
func (t Topology) CampaignEscrowSubject(campaignID string) string {
	return t.WithDefaults().LedgerPrefix + ".campaign." + campaignID
}

// TimersBucket is the key-value bucket of envelope timers.
func (t Topology) TimersBucket() string { return timersBucket }

// DispatchBucket is the key-value bucket of the outbox dispatcher's
// cursor and parked transfers.
func (t Topology) DispatchBucket() string { return dispatchBucket }

// KeysBucket is the key-value bucket of the instances' public keys and
// the streams' signed-from markers (internal/seal): the service writes it,
// operators read it.
func (t Topology) KeysBucket() string { return keysBucket }

// WrapsBucket is the key-value bucket of wrap request ids.
func (t Topology) WrapsBucket() string { return wrapsBucket }

// RiskBucket is the key-value bucket of the risk control's blocklist:
// blocked users and senders, watched by every instance.
func (t Topology) RiskBucket() string { return riskBucket }
