package factory

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
)

// Resolver tells the factory where a name leads. *config.File implements it;
// a service-discovery runtime may too.
//
// Resolve returns the definition of the service called name, or an error
// matching config.ErrUnknownService when there is none. For a relay or direct
// service the factory uses Service.LazyConfig: the settings in Service.Sink
// with the identity stated once in the Service (Type, Endpoint, Metadata;
// Name is the name asked for); for a composite, Service.Pattern and
// Service.Targets.
// Resolve is called once per name for Sink and once for Source, under the
// factory's lock.
type Resolver interface {
	Resolve(name string) (config.Service, error)
}

// ErrUnknownService is matched by the error of Sink for a name the resolver
// does not know.
var ErrUnknownService = config.ErrUnknownService

// Factory makes and keeps one sink per name. The zero value is not usable:
// call New or FromFile.
type Factory struct {
	resolver Resolver
	logger   *slog.Logger
	onChange func(sink.StateChange)

	kinds []Kind // added by WithKind

	mu      sync.Mutex
	sinks   map[string]sink.Sink
	sources map[string]*source.Source
	leaves  map[sink.Sink]bool // the sinks of kinds added by WithKind, which Close closes with the lazy ones
	closed  bool
}

// Option configures a Factory.
type Option func(*Factory)

// WithLogger makes every relay and direct sink log its state changes to l
// (lazy.Config.Logger), unless its resolved configuration has a logger.
func WithLogger(l *slog.Logger) Option { return func(f *Factory) { f.logger = l } }

// WithStateChange makes every relay and direct sink report its state
// changes to fn (lazy.Config.OnStateChange), unless its resolved
// configuration has a callback. fn is called off the sinks' writer
// goroutines, one sink's changes in order; it must be safe for concurrent
// use when several sinks change state at once.
func WithStateChange(fn func(sink.StateChange)) Option { return func(f *Factory) { f.onChange = fn } }

// New returns a factory that resolves names through r.
func New(r Resolver, opts ...Option) *Factory {
	f := &Factory{resolver: r, sinks: make(map[string]sink.Sink), sources: make(map[string]*source.Source)}
	for _, o := range opts {
		o(f)
	}
	return f
}

// FromFile loads and validates a services.toml (config.Load) and returns a
// factory over it. It never dials. Its error is config.Load's: every problem
// in the file, matching sink.ErrInvalidConfig (config.ErrInvalidConfig).
func FromFile(path string, opts ...Option) (*Factory, error) {
	f := New(nil, opts...)
	file, err := config.Load(path, f.extensions()...)
	if err != nil {
		return nil, err
	}
	f.resolver = file
	return f, nil
}

// Sink returns the sink for name, creating it on the first call; every later
// call, from any goroutine, returns the same sink. Creating it never dials.
// The error is a *sink.Error (Op "resolve") that matches ErrUnknownService for
// an undefined name, sink.ErrInvalidConfig (config.ErrInvalidConfig is the
// same value) for a definition the factory cannot build (a composite cycle
// the resolver let through, an unknown type or pattern, a setting lazy.New
// refuses, a composite without enough targets), and sink.ErrClosed after
// Close.
func (f *Factory) Sink(name string) (sink.Sink, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, &sink.Error{Sink: name, Op: "resolve", Err: sink.ErrClosed}
	}
	return f.build(name, nil)
}

// build returns the sink for name, making it and its targets as needed.
// path holds the composites being built above name, to refuse cycles that a
// resolver other than config did not check. f.mu is held.
func (f *Factory) build(name string, path []string) (sink.Sink, error) {
	if s, ok := f.sinks[name]; ok {
		return s, nil
	}
	if slices.Contains(path, name) {
		cycle := strings.Join(append(path, name), " -> ")
		return nil, resolveError(name, fmt.Errorf("%w: composite cycle %s; remove one of these targets", sink.ErrInvalidConfig, cycle))
	}
	svc, err := f.resolver.Resolve(name)
	if err != nil {
		return nil, resolveError(name, err)
	}
	var s sink.Sink
	switch svc.Type {
	case sink.KindRelay, sink.KindDirect:
		s, err = f.newLazy(name, svc)
	case sink.KindComposite:
		s, err = f.composite(name, svc, append(path, name))
	default:
		s, err = f.extension(name, svc)
	}
	if err != nil {
		return nil, resolveError(name, err)
	}
	f.sinks[name] = s
	return s, nil
}

// resolveError names the sink in err unless err already does.
func resolveError(name string, err error) error {
	var se *sink.Error
	if errors.As(err, &se) {
		return err
	}
	return &sink.Error{Sink: name, Op: "resolve", Err: err}
}

// newLazy makes the lazy sink of a relay or direct service.
func (f *Factory) newLazy(name string, svc config.Service) (*lazy.Sink, error) {
	svc.Name = name // the name the sink answers to, whatever the resolver wrote
	f.observe(&svc.Sink)
	return lazy.New(svc.LazyConfig())
}

// observe gives a sink's settings the factory's logger and state-change
// callback, unless they have their own.
func (f *Factory) observe(c *lazy.Config) {
	if c.Logger == nil {
		c.Logger = f.logger
	}
	if c.OnStateChange == nil {
		c.OnStateChange = f.onChange
	}
}

// composite makes a composite over the shared sinks of its targets.
func (f *Factory) composite(name string, svc config.Service, path []string) (sink.Sink, error) {
	targets := make([]sink.Sink, len(svc.Targets))
	for i, t := range svc.Targets {
		s, err := f.build(t, path)
		if err != nil {
			return nil, err
		}
		targets[i] = s
	}
	switch svc.Pattern {
	case sink.KindFanout:
		return sink.NewFanout(name, targets...)
	case sink.KindRoundRobin:
		return sink.NewRoundRobin(name, targets...)
	case sink.KindFailover:
		return sink.NewFailover(name, targets...)
	}
	return nil, fmt.Errorf("%w: composite pattern %q; use %q, %q or %q", sink.ErrInvalidConfig, svc.Pattern,
		sink.KindFanout, sink.KindRoundRobin, sink.KindFailover)
}

// ErrNotRelay is matched by the error of Source for a service that is not
// a relay: only a relay forwards frames to subscribers.
var ErrNotRelay = errors.New("factory: not a relay service")

// Source returns the source.Source that reads the relay service name (type
// = "relay" in services.toml: the endpoint its producers send to, its
// domain and validation, its retry schedule and connect timeout), creating
// it on the first call; every later call returns the same Source. Creating
// it never dials. A Source's Next belongs to one goroutine: the reader of
// name should be one goroutine that hands frames on, not every caller.
//
// The error is a *sink.Error (Op "source") that matches ErrUnknownService
// for an undefined name, ErrNotRelay for a direct or composite service,
// sink.ErrInvalidConfig for settings source.New refuses, and
// sink.ErrClosed after Close.
func (f *Factory) Source(name string) (*source.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func(err error) (*source.Source, error) { return nil, &sink.Error{Sink: name, Op: "source", Err: err} }
	if f.closed {
		return fail(sink.ErrClosed)
	}
	if s, ok := f.sources[name]; ok {
		return s, nil
	}
	svc, err := f.resolver.Resolve(name)
	if err != nil {
		return fail(err)
	}
	if svc.Type != sink.KindRelay {
		return fail(fmt.Errorf("%w: %q is a %s service; read a relay service, the one its producers send to", ErrNotRelay, name, svc.Type))
	}
	c := svc.LazyConfig()
	logger := c.Logger
	if logger == nil {
		logger = f.logger
	}
	s, err := source.New(source.Config{Name: name, Endpoint: c.Endpoint, Retry: c.Retry,
		ConnectTimeout: c.ConnectTimeout, Validator: c.Validator, Logger: logger})
	if err != nil {
		return fail(err)
	}
	f.sources[name] = s
	return s, nil
}

// Infos returns a snapshot of every sink made so far, sorted by name.
func (f *Factory) Infos() []sink.Info {
	f.mu.Lock()
	names := make([]string, 0, len(f.sinks))
	for n := range f.sinks {
		names = append(names, n)
	}
	sinks := make([]sink.Sink, len(names))
	slices.Sort(names)
	for i, n := range names {
		sinks[i] = f.sinks[n]
	}
	f.mu.Unlock()
	infos := make([]sink.Info, len(sinks))
	for i, s := range sinks {
		infos[i] = s.Info()
	}
	return infos
}

// Close closes every sink and source the factory made and makes later calls
// to Sink and Source fail with sink.ErrClosed. Composites close first, so that none sends to a
// target already closed; then every other sink closes at once, each flushing
// within its own close timeout (so a dead peer costs one timeout, not one per
// sink). What a sink could not flush is counted in its Info as dropped. The
// errors of all sinks are joined. Close is idempotent: later calls return nil.
func (f *Factory) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	for _, s := range f.sources {
		_ = s.Close() // never fails; it ends a Next blocked on it
	}
	var composites, leaves []sink.Sink
	for _, s := range f.sinks {
		if _, ok := s.(*lazy.Sink); ok || f.leaves[s] {
			leaves = append(leaves, s)
		} else {
			composites = append(composites, s)
		}
	}
	f.mu.Unlock()

	errs := make([]error, 0, len(composites)+len(leaves))
	for _, s := range composites {
		errs = append(errs, s.Close())
	}
	leafErrs := make([]error, len(leaves))
	var wg sync.WaitGroup
	for i, s := range leaves {
		wg.Go(func() { leafErrs[i] = s.Close() })
	}
	wg.Wait()
	return errors.Join(append(errs, leafErrs...)...)
}
