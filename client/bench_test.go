package client_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/client"
	"github.com/hongbao/hongbao/internal/natstest"
)

// BenchmarkOpenOverhead compares one open through the client with the raw
// request `hongbao bench` made before it used the client (a reused
// message, a precomputed subject, a byte scan of the reply), both against
// a no-op responder answering an open reply, from 64 goroutines: the
// client's own cost, without the service's.
//
//	go test -run NONE -bench OpenOverhead -benchmem -count 6 ./client/
func BenchmarkOpenOverhead(b *testing.B) {
	srv := natstest.Start(b)
	resp := srv.Conn(b)
	reply := []byte(`{"status":"opened","amount":1234,"index":3,"remaining_count":7,"seq":42}`)
	sub, err := resp.Subscribe("noop.>", func(m *nats.Msg) { _ = m.Respond(reply) })
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := resp.Flush(); err != nil {
		b.Fatal(err)
	}
	nc := srv.Conn(b)
	const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	var users atomic.Int64

	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			msg := nats.Msg{Subject: "noop.open." + id}
			buf := make([]byte, 0, 64)
			for pb.Next() {
				buf = append(buf[:0], `{"user":"u`...)
				buf = strconv.AppendInt(buf, users.Add(1), 10)
				msg.Data = append(buf, `"}`...)
				m, err := nc.RequestMsg(&msg, 30*time.Second)
				if err != nil || len(m.Data) < 20 || string(m.Data[11:17]) != "opened" {
					b.Fatalf("%v %v", m, err)
				}
			}
		})
	})
	b.Run("client", func(b *testing.B) {
		c := client.New(nc, client.WithPrefix("noop"), client.WithTimeout(30*time.Second), client.WithRetry(client.NoRetry))
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				o, err := c.Open(ctx, id, "u"+strconv.FormatInt(users.Add(1), 10))
				if err != nil || o.Status != client.StatusOpened {
					b.Fatalf("%+v %v", o, err)
				}
			}
		})
	})
}
