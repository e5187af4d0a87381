package config_test

import (
	"fmt"

	"github.com/msgsink/msgsink/config"
)

// An extension type, as a contrib module declares one: its keys, checked
// with the same lines and suggestions as every other key.
func ExampleParse_extension() {
	queue := config.Extension{
		Type: "queue",
		Keys: []string{"endpoint", "depth"},
		Check: func(c *config.Checker, m map[string]any) any {
			ep, _ := c.String(m, "endpoint", "q://host")
			depth, _ := c.Int(m, "depth", 1, 100, "10")
			return fmt.Sprintf("%s depth %d", ep, depth)
		},
	}
	f, err := config.Parse("services.toml", []byte(`
[services.q]
type = "queue"
endpoint = "q://a"
depth = 7
buffer_size = 64
`), queue)
	if err != nil {
		fmt.Println(err)
		return
	}
	q := f.Services["q"]
	fmt.Println(q.Type, q.Ext, q.Sink.BufferSize)

	_, err = config.Parse("services.toml", []byte(`
[services.q]
type = "queue"
endpoint = "q://a"
dpeth = 7
`), queue)
	fmt.Println(err)
	// Output:
	// queue q://a depth 7 64
	// services.toml:5: [services.q] unknown key "dpeth"; did you mean "depth"?
}

// A type that a known module provides, loaded without it.
func ExampleProvider() {
	fmt.Println(config.Provider("nats"))
	// Output: needs github.com/msgsink/msgsink/contrib/nats: pass natssink.Option()
}
