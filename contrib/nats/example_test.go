package natssink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msgsink/msgsink/config"
	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/lazy"
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

// A NATS sink without a file, publishing to JetStream: the frames are
// acked once a stream captures their subjects.
func ExampleNew() {
	store, _ := os.MkdirTemp("", "natssink-example-js")
	defer os.RemoveAll(store)
	srv, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: store})
	srv.Start()
	defer srv.Shutdown()
	srv.ReadyForConnections(10 * time.Second)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js.CreateStream(ctx, jetstream.StreamConfig{Name: "MD", Subjects: []string{"md.>"}})

	s, err := natssink.New(natssink.Config{
		Sink:      lazy.Config{Name: "md", SingleProducer: true},
		Endpoint:  srv.ClientURL(),
		Subject:   "md.{source}",
		JetStream: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 3)
	for range 3 {
		b.Append(5, []byte("tick"))
		m, _ := b.Finish()
		s.Send(m)
	}
	s.Close() // flushes, and waits for the acks
	fmt.Printf("written %d, acked %d\n", s.Info().Written, s.JetStream().Acked)
	// Output: written 3, acked 3
}

func ExampleParseEndpoint() {
	urls, err := natssink.ParseEndpoint("nats://10.0.0.1:4222,10.0.0.2")
	fmt.Println(urls, err)
	_, err = natssink.ParseEndpoint("tcp://10.0.0.1:4222")
	fmt.Println(err)
	// Output:
	// [nats://10.0.0.1:4222 nats://10.0.0.2:4222] <nil>
	// endpoint "tcp://10.0.0.1:4222": want nats://host:port[,host:port…]
}

// The configuration side alone, for a program that loads services.toml
// itself, as msgsink check does.
func ExampleExtension() {
	dir, _ := os.MkdirTemp("", "natssink-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "services.toml")
	os.WriteFile(path, []byte(`
[services.cloud]
type = "nats"
endpoint = "nats://127.0.0.1:4222"
max_infight = 10
`), 0o600)
	_, err := config.Load(path, natssink.Extension())
	fmt.Println(strings.TrimPrefix(err.Error(), path))
	// Output: :5: [services.cloud] unknown key "max_infight"; did you mean "max_inflight"?
}
