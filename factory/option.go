package factory

import (
	"fmt"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/sink"
)

// Kind is a service type that a module outside the library provides, such
// as contrib/nats's "nats": its services.toml keys and how to make its sink.
// The module exports an Option made with WithKind, so that the library's
// go.mod does not carry the module's dependencies.
type Kind struct {
	// Config is the type's name and its keys, checked when the file loads.
	Config config.Extension
	// New makes the sink of a service of this type, without dialing.
	// svc.Name is the name asked for; svc.Sink holds the settings every
	// sink shares (the factory's logger and state callback filled in as for
	// a relay service); svc.Ext holds what Config.Check returned. Its error
	// should match sink.ErrInvalidConfig for a setting it refuses.
	New func(svc config.Service) (sink.Sink, error)
}

// WithKind adds the service type k: FromFile validates services of type
// k.Config.Type with its keys, and Sink makes them with k.New. Composites
// may target them as any other service.
func WithKind(k Kind) Option {
	return func(f *Factory) { f.kinds = append(f.kinds, k) }
}

// extensions returns the configuration side of the kinds added.
func (f *Factory) extensions() []config.Extension {
	exts := make([]config.Extension, len(f.kinds))
	for i, k := range f.kinds {
		exts[i] = k.Config
	}
	return exts
}

// extension makes the sink of a service whose type is none of the
// library's: one added with WithKind, or an error that says which module
// provides the type.
func (f *Factory) extension(name string, svc config.Service) (sink.Sink, error) {
	for _, k := range f.kinds {
		if k.Config.Type != svc.Type {
			continue
		}
		svc.Name = name
		f.observe(&svc.Sink)
		s, err := k.New(svc)
		if err != nil {
			return nil, err
		}
		if f.leaves == nil {
			f.leaves = make(map[sink.Sink]bool)
		}
		f.leaves[s] = true
		return s, nil
	}
	if p := config.Provider(svc.Type); p != "" {
		return nil, fmt.Errorf("%w: service type %q %s", sink.ErrInvalidConfig, svc.Type, p)
	}
	return nil, fmt.Errorf("%w: service type %q; use %q, %q or %q", sink.ErrInvalidConfig, svc.Type, sink.KindRelay, sink.KindDirect, sink.KindComposite)
}
