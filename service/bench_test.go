package service_test

import (
	"fmt"
	"testing"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/risk"
	"github.com/hongbao/hongbao/service"
)

// BenchmarkOpenFromMemory is the round trip of an open the service answers
// from memory (a finished envelope: exhausted), without and with risk
// controls and admission: what they add to the cheapest open.
func BenchmarkOpenFromMemory(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []testenv.Option
		cfg  service.Config
	}{
		{"plain", nil, service.Config{}},
		{"risk+admission", []testenv.Option{testenv.WithRisk(risk.Config{})}, service.Config{OpenAdmission: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := testenv.Start(b, c.cfg, append(c.opts, testenv.WithoutProjections())...)
			id := h.WrapAndPay("equal", 100, 1)
			h.Open(id, "first")
			subject := "hongbao.open." + id
			i := 0
			for b.Loop() {
				m, err := h.NC.Request(subject, fmt.Appendf(nil, `{"user":"u%d"}`, i), testenv.RequestTimeout)
				if err != nil || string(m.Data) != `{"status":"`+api.StatusExhausted+`"}` {
					b.Fatalf("%v %s", err, m.Data)
				}
				i++
			}
		})
	}
}
