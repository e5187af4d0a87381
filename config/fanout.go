package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/msgsink/msgsink/sink"
)

// fanoutTwice refuses a fanout that reaches one service through two of its
// targets: a fanout hands every message to each target, so that service
// would get every message twice (SPEC section 10). Each target that shares
// services with an earlier one is reported once, with the two paths to the
// nearest shared service. The composites must have no cycle.
func (p *parser) fanoutTwice(f *File, names []string) {
	reach := map[string]map[string]bool{} // the services under n, n included
	var under func(n string) map[string]bool
	under = func(n string) map[string]bool {
		if r, ok := reach[n]; ok {
			return r
		}
		r := map[string]bool{n: true}
		for _, t := range f.Services[n].Targets {
			if _, ok := f.Services[t]; ok {
				for s := range under(t) {
					r[s] = true
				}
			}
		}
		reach[n] = r
		return r
	}
	for _, n := range names {
		s := f.Services[n]
		if s.Type != sink.KindComposite || s.Pattern != sink.KindFanout {
			continue
		}
		var earlier []string // the targets before t
		reachedBy := func(x string) string {
			for _, e := range earlier {
				if under(e)[x] {
					return e
				}
			}
			return ""
		}
		for _, t := range s.Targets {
			if _, ok := f.Services[t]; !ok {
				continue
			}
			// The paths from t to services an earlier target reaches too,
			// the nearest first.
			var shared [][]string
			for _, path := range pathsFrom(f, t) {
				if reachedBy(path[len(path)-1]) != "" {
					shared = append(shared, path)
				}
			}
			earlier = append(earlier, t)
			if len(shared) == 0 {
				continue
			}
			path := shared[0]
			x := path[len(path)-1]
			other := shortestPath(f, reachedBy(x), x)
			also := ""
			if len(shared) > 1 {
				also = " (" + strconv.Itoa(len(shared)-1) + " more services under " + strconv.Quote(t) + " are reached twice too)"
			}
			p.errorf(scope{path: []string{"services", n}, service: n}, "targets",
				"remove "+strconv.Quote(x)+" from one of these paths: a fanout must reach each service through one target only",
				"fanout reaches %q twice: %s and %s, so it would get every message twice%s",
				x, strings.Join(append([]string{n}, other...), " -> "), strings.Join(append([]string{n}, path...), " -> "), also)
		}
	}
}

// pathsFrom returns the shortest path from n to each service under it, n
// included, in breadth-first order: nearest first, in target order.
func pathsFrom(f *File, n string) [][]string {
	paths := [][]string{{n}}
	seen := map[string]bool{n: true}
	for i := 0; i < len(paths); i++ {
		at := paths[i]
		for _, t := range f.Services[at[len(at)-1]].Targets {
			if _, ok := f.Services[t]; ok && !seen[t] {
				seen[t] = true
				paths = append(paths, append(slices.Clone(at), t))
			}
		}
	}
	return paths
}

// shortestPath returns the shortest path from n to x, which is under n.
func shortestPath(f *File, n, x string) []string {
	for _, p := range pathsFrom(f, n) {
		if p[len(p)-1] == x {
			return p
		}
	}
	return nil
}
