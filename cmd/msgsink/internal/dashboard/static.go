package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// The page and everything it loads, uPlot included (see static/NOTICE):
// the binary serves it all, so the page works on a machine with no other
// network than the one to the dashboard.
//
//go:embed static
var staticFS embed.FS

var files = func() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded directory exists by construction
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}()

func serveStatic(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/":
		http.ServeFileFS(w, r, staticFS, "static/index.html")
	case strings.HasPrefix(r.URL.Path, "/static/"):
		files.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}
