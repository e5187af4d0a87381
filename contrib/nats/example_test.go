package natssink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/tlv"
)

// A services.toml service of type "nats", enabled by one option; the code
// that sends does not change.
func ExampleOption() {
	srv, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	srv.Start()
	defer srv.Shutdown()
	srv.ReadyForConnections(10 * time.Second)

	// An independent subscriber, as any NATS consumer would be.
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	sub, _ := nc.SubscribeSync("md.>")
	nc.Flush()

	dir, _ := os.MkdirTemp("", "natssink-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "services.toml")
	os.WriteFile(path, []byte(`
[services.md_nats]
type = "nats"
endpoint = "`+srv.ClientURL()+`"
subject = "md.{domain}.{source}"
`), 0o600)

	f, err := factory.FromFile(path, natssink.Option())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	s, _ := f.Sink("md_nats")

	b := tlv.NewBuilder(tlv.DomainMarketData, 7)
	b.Append(5, []byte("hello"))
	m, _ := b.Finish()
	if err := s.Send(m); err != nil {
		fmt.Println(err)
		return
	}
	s.Flush(context.Background())

	msg, _ := sub.NextMsg(10 * time.Second)
	fr, _ := tlv.Parse(msg.Data)
	fmt.Println(msg.Subject, fr.Header().Sequence(), s.Info().Kind)
	// Output: md.market_data.7 1 nats
}

// The receive side: a Reader returns the frames of a subject and counts
// the sequences it never saw.
func ExampleSubscribe() {
	srv, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	srv.Start()
	defer srv.Shutdown()
	srv.ReadyForConnections(10 * time.Second)

	r, err := natssink.Subscribe(natssink.ReaderConfig{Endpoint: srv.ClientURL()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	s, _ := natssink.New(natssink.Config{Endpoint: srv.ClientURL()})
	defer s.Close()

	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for seq := range uint64(4) {
		if seq == 2 {
			b.SetSequence(4) // sequence 3 is never sent
		}
		b.Append(5, []byte("tick"))
		m, _ := b.Finish()
		s.Send(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 4 {
		f, _ := r.Next(ctx)
		fmt.Print(f.Header().Sequence(), " ")
	}
	fmt.Println("gaps:", r.Info().Gaps)
	// Output: 1 2 4 5 gaps: 1
}
