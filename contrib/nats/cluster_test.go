package natssink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
)

// startCluster starts three servers routed to each other.
func startCluster(t *testing.T) []*natsServer {
	t.Helper()
	cports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var srvs []*natsServer
	for i := range 3 {
		n := &natsServer{tb: t, port: freePort(t), opts: func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i)
			o.Cluster = server.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: cports[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}}
		n.Start()
		t.Cleanup(n.Stop)
		srvs = append(srvs, n)
	}
	waitFor(t, "the cluster to form", func() bool {
		for _, n := range srvs {
			if n.s.NumRoutes() < 2 {
				return false
			}
		}
		return true
	})
	return srvs
}

// clientOf returns the server of srvs that has a client connection named
// name, or -1.
func clientOf(srvs []*natsServer, name string) int {
	for i, n := range srvs {
		if n.s == nil {
			continue
		}
		cz, err := n.s.Connz(&server.ConnzOptions{})
		if err != nil {
			continue
		}
		for _, c := range cz.Conns {
			if c.Name == name {
				return i
			}
		}
	}
	return -1
}

// A three-server cluster: the server the sink is connected to is killed,
// and the sink fails over to another one; a reader on a third sees the
// stream go on, its gaps exactly what the sink refused or dropped.
func TestClusterFailover(t *testing.T) {
	srvs := startCluster(t)
	var urls []string
	for _, n := range srvs {
		urls = append(urls, strings.TrimPrefix(n.URL(), "nats://"))
	}
	s := newSink(t, natssink.Config{Endpoint: "nats://" + strings.Join(urls, ","),
		Sink: lazy.Config{Name: "failover-sink", BufferSize: 1024, Retry: lazy.Retry{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	var first int
	waitFor(t, "the sink's connection at a server", func() bool { first = clientOf(srvs, "failover-sink"); return first >= 0 })
	other := (first + 1) % 3
	r, err := natssink.Subscribe(natssink.ReaderConfig{Endpoint: srvs[other].URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		for {
			if _, err := r.Next(context.Background()); err != nil {
				return
			}
		}
	}()
	waitFor(t, "the reader's interest at the sink's server", func() bool {
		return srvs[first].s.GlobalAccount().SubscriptionInterest("msgsink.market_data.3")
	})
	st := stream(s, 3)
	waitFor(t, "frames at the reader", func() bool { return r.Info().Frames > 2000 })
	srvs[first].Stop()
	waitFor(t, "the sink to fail over", func() bool {
		at := clientOf(srvs, "failover-sink")
		return at >= 0 && at != first && s.State() == sink.StateConnected
	})
	before := r.Info().Frames
	waitFor(t, "frames flowing after the failover", func() bool { return r.Info().Frames > before+2000 })
	st.finish(t, s)
	total := st.built.Load()
	waitFor(t, "the last frame at the reader", func() bool { in := r.Info(); return in.Frames+in.Gaps >= total })
	in, si := r.Info(), s.Info()
	lost := st.refused.Load() + si.Dropped.ConnectFailed + si.Dropped.Stale + si.Dropped.Closed
	if in.Gaps != lost || si.Reconnects != 1 {
		t.Fatalf("reader %+v; sink %+v: want gaps = refused + dropped = %d, one reconnect", in, si, lost)
	}
}
