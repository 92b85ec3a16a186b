// Follow prints one line per event of a Lineage server's stream, with the
// client package: the snapshot first, then every event once, in order,
// across dropped connections and server restarts.
//
//	go run ./examples/follow                      # ws://127.0.0.1:9001
//	go run ./examples/follow -n 20 wss://lineage.example:9001
//
// LINEAGE_TOKEN, when set, is sent as the bearer token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lineage-arena/lineage/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv("LINEAGE_TOKEN"), os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "follow:", err)
	}
	stop()
	os.Exit(exitCode(err))
}

// errUsage marks a bad command line (exit 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

// run follows the server named in args until ctx is done or -n events
// are printed.
func run(ctx context.Context, args []string, token string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("follow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 0, "stop after N events (0: never)")
	schema := fs.String("schema", "", "v1 or v2 (default: the server's, v1)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 1 || *n < 0 {
		return fmt.Errorf("%w: follow [-n N] [-schema v1|v2] [ws://host:port]", errUsage)
	}
	url := "ws://127.0.0.1:9001"
	if fs.NArg() == 1 {
		url = fs.Arg(0)
	}

	c, err := client.Dial(ctx, url, client.Options{
		Schema: *schema,
		Token:  token,
		OnRetry: func(r client.Retry) {
			fmt.Fprintf(stderr, "%v; retrying in %s\n", r.Err, r.Wait)
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()

	printed := 0
	for m, err := range c.Messages(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		}
		if m.Type == client.TypeResume {
			fmt.Fprintln(stderr, "the server says:", m.Text) // e.g. truncated history
		}
		if !m.Event {
			continue
		}
		fmt.Fprintln(stdout, line(&m))
		if printed++; *n > 0 && printed >= *n {
			return nil
		}
	}
	return nil
}

// line is one event as text: its sequence, its type and what it says.
func line(m *client.Message) string {
	s := fmt.Sprintf("%d %s", m.Sequence, m.Type)
	switch {
	case m.Market != nil:
		s += fmt.Sprintf(" %s %s", m.Market.Symbol, m.Market.Price)
	case m.Agent != nil:
		s += fmt.Sprintf(" %s %s %s", m.Agent.ID, m.Agent.Capital, m.Agent.Status)
	default:
		s += " " + string(m.Payload())
	}
	if m.Snapshot {
		s += " (snapshot)"
	}
	return s
}
