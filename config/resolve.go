package config

import (
	"errors"
	"fmt"
)

// ErrUnknownService is matched (errors.Is) by the error of a lookup of a name
// that is not defined. Resolvers other than *File should return it too, so
// that callers can tell a missing service from a broken one.
var ErrUnknownService = errors.New("config: unknown service")

// Resolve returns the service called name, or an error matching
// ErrUnknownService that suggests the nearest defined name. With it a *File
// is a factory.Resolver.
func (f *File) Resolve(name string) (Service, error) {
	if s, ok := f.Services[name]; ok {
		return s, nil
	}
	hint := didYouMean(name, f.Names())
	if hint == "" {
		hint = "define [services." + name + "] in " + f.Path + " or use one of: " + oneOf(f.Names())
	}
	return Service{}, fmt.Errorf("%w %q: %s", ErrUnknownService, name, hint)
}
