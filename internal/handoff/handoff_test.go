package handoff

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		want []Action // from a fresh count, then again after the park
	}{
		{"backoff", Schedule{Spins: 2, Yields: 1}, []Action{Spin, Spin, Yield, Park, Spin}},
		{"park at once", ParkAtOnce, []Action{Park, Park}},
		{"yield then park", YieldThenPark, []Action{Yield, Yield, Yield, Yield, Park, Yield}},
		{"spin forever", SpinForever, []Action{Spin, Spin, Spin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rounds := 0
			for i, want := range tt.want {
				if got := tt.s.Next(&rounds); got != want {
					t.Fatalf("round %d: %v, want %v", i+1, got, want)
				}
			}
		})
	}
}

// The owner's low byte survives every transition of the gate.
const owner = 0x2A

func newGate(t *testing.T, flags uint32) *Gate {
	t.Helper()
	g := &Gate{}
	g.Init()
	g.Word.Store(owner | flags)
	return g
}

func kicked(g *Gate) bool {
	select {
	case <-g.C():
		return true
	default:
		return false
	}
}

func TestWake(t *testing.T) {
	tests := []struct {
		name      string
		flags     uint32
		recent    bool // the last write through started within Gap
		want      Result
		wantFlags uint32
		wantKick  bool
	}{
		{"awake", 0, false, NotParked, 0, false},
		{"writing through", Parked | ThroughOK | Through, false, Done, Parked | ThroughOK | Through, false},
		{"parked, no write through", Parked, false, Done, 0, true},
		{"parked, write through", Parked | ThroughOK, false, WriteThrough, Parked | ThroughOK | Through, false},
		{"parked, within Gap", Parked | ThroughOK, true, Done, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate(t, tt.flags)
			if tt.recent {
				g.throughAt.Store(nanotime() + int64(time.Hour)) // never Gap ago, however slow the test
			}
			r, w := g.Wake(g.Word.Load())
			if r != tt.want {
				t.Fatalf("Wake = %v, want %v", r, tt.want)
			}
			if got := g.Word.Load(); got != owner|tt.wantFlags || (r == NotParked && w != got) {
				t.Fatalf("word %#x (returned %#x), want %#x", got, w, owner|tt.wantFlags)
			}
			if k := kicked(g); k != tt.wantKick {
				t.Fatalf("kicked %v, want %v", k, tt.wantKick)
			}
		})
	}
}

func TestEndThrough(t *testing.T) {
	for _, whole := range []bool{true, false} {
		g := newGate(t, Parked|ThroughOK|Through)
		if recheck := g.EndThrough(whole); recheck != whole {
			t.Fatalf("whole %v: recheck %v", whole, recheck)
		}
		want := uint32(owner | Parked | ThroughOK) // the writer sleeps on
		if !whole {
			want = owner // the writer is woken to write the rest
		}
		if got := g.Word.Load(); got != want {
			t.Fatalf("whole %v: word %#x, want %#x", whole, got, want)
		}
		if k := kicked(g); k == whole {
			t.Fatalf("whole %v: kicked %v", whole, k)
		}
	}
}

// Unpark waits for a write through to give the writing side back.
func TestUnparkWaitsForThrough(t *testing.T) {
	g := newGate(t, 0)
	g.Park(true)
	if r, _ := g.Wake(g.Word.Load()); r != WriteThrough {
		t.Fatalf("Wake = %v, want WriteThrough", r)
	}
	done := make(chan struct{})
	go func() {
		g.Unpark()
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("Unpark returned while a write through held the writing side")
	case <-time.After(20 * time.Millisecond):
	}
	g.EndThrough(true)
	<-done
	if got := g.Word.Load(); got != owner {
		t.Fatalf("word %#x after Unpark, want %#x", got, owner)
	}
}
