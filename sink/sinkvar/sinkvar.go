package sinkvar

import (
	"errors"
	"expvar"
	"fmt"

	"github.com/msgsink/msgsink/sink"
)

// ErrDuplicate is returned by Publish for a name expvar already holds.
var ErrDuplicate = errors.New("sinkvar: expvar name already published")

// Publish registers name in expvar as a JSON object that maps each sink's
// name to its Info (see sink.Info for the fields), calling infos at every
// read: (*factory.Factory).Infos, or a function over any set of sinks. It
// returns an error matching ErrDuplicate, instead of expvar's panic, when
// name is taken.
func Publish(name string, infos func() []sink.Info) error {
	if expvar.Get(name) != nil {
		return fmt.Errorf("%w: %q; choose another name", ErrDuplicate, name)
	}
	expvar.Publish(name, expvar.Func(func() any {
		all := infos()
		m := make(map[string]sink.Info, len(all))
		for _, in := range all {
			m[in.Name] = in
		}
		return m
	}))
	return nil
}
