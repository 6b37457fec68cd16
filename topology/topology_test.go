package topology_test

import (
	"testing"

	"github.com/hongbao/hongbao/topology"
)

func TestDefaultNames(t *testing.T) {
	for _, top := range []topology.Topology{{}, topology.Default()} {
		id := "01M84EHPZ2FBFY5FASPR5X2A8F"
		p := top.Partition(id)
		got := []string{top.EnvelopeStream(p), top.LedgerStream(p), top.EnvelopeSubject(id), top.EnvelopeFilter(),
			top.EscrowSubject(id), top.LedgerFilter(), top.TimersBucket(), top.DispatchBucket(), top.WrapsBucket(), top.RiskBucket()}
		want := []string{"ENVELOPES", "LEDGER", "envelope." + id, "envelope.>",
			"ledger.escrow." + id, "ledger.>", "HONGBAO_TIMERS", "HONGBAO_DISPATCH", "HONGBAO_WRAPS"}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%+v: name %d is %q, want %q", top, i, got[i], want[i])
			}
		}
		if top.Partitions() != 1 || p != 0 {
			t.Errorf("%+v: partition %d of %d, want 0 of 1", top, p, top.Partitions())
		}
	}
}

func TestOtherNames(t *testing.T) {
	top := topology.Topology{EnvelopeStreamName: "ENV", LedgerStreamName: "LED", EnvelopePrefix: "t1.env", LedgerPrefix: "t1.led"}
	if got := top.EnvelopeSubject("x"); got != "t1.env.x" {
		t.Errorf("EnvelopeSubject = %q", got)
	}
	if got := top.EscrowSubject("x"); got != "t1.led.escrow.x" {
		t.Errorf("EscrowSubject = %q", got)
	}
	if top.EnvelopeFilter() != "t1.env.>" || top.LedgerFilter() != "t1.led.>" {
		t.Errorf("filters %q %q", top.EnvelopeFilter(), top.LedgerFilter())
	}
	if top.EnvelopeStream(0) != "ENV" || top.LedgerStream(0) != "LED" {
		t.Errorf("streams %q %q", top.EnvelopeStream(0), top.LedgerStream(0))
	}
}

func TestCampaignNames(t *testing.T) {
	var tp topology.Topology
	id := "01M84EHPZ2FBFY5FASPR5X2A8F"
	for _, c := range []struct{ got, want string }{
		{tp.CampaignStream(0), "CAMPAIGNS"},
		{tp.CampaignSubject(id), "campaign." + id},
		{tp.SliceSubject(id, 3), "campaign." + id + ".slice.3"},
		{tp.CampaignFilter(), "campaign.>"},
		{tp.CampaignEscrowSubject(id), "ledger.campaign." + id},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
