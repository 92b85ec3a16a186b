package eventlog

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the crash test's child: with EVENTLOG_CRASH_DIR set,
// the test binary appends to that log forever, printing "ack N" on stdout
// after each Sync that made records [0, N) durable.
func TestMain(m *testing.M) {
	if dir := os.Getenv("EVENTLOG_CRASH_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

func crashChild(dir string) {
	l, err := Open(dir, Options{SegmentBytes: 256 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	seed, _ := strconv.ParseUint(os.Getenv("EVENTLOG_CRASH_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 1))
	out := bufio.NewWriter(os.Stdout)
	for {
		next, _ := l.Last()
		batch := 1 + rng.IntN(300)
		for i := range uint64(batch) {
			seq := next + i
			if _, err := l.Append(seq, time.Unix(int64(seq), 0), "market", payload(seq)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(4)
			}
		}
		if err := l.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(5)
		}
		fmt.Fprintf(out, "ack %d\n", l.Durable())
		out.Flush()
	}
}

// TestCrashLosesNothingAcknowledged kills a child that appends under load
// with SIGKILL at random points, many times over the same log; after each
// kill the reopened log verifies and holds every record the child had
// acknowledged, and the next child carries on from there.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	var acked uint64
	repaired := 0
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "EVENTLOG_CRASH_DIR="+dir, fmt.Sprintf("EVENTLOG_CRASH_SEED=%d", round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of acknowledgements: the child is
		// always mid-batch or mid-fsync somewhere.
		want := 1 + rng.IntN(40)
		sc := bufio.NewScanner(stdout)
		for n := 0; n < want && sc.Scan(); n++ {
			v, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "ack "), 10, 64)
			if err != nil {
				t.Fatalf("round %d: child said %q", round, sc.Text())
			}
			if v < acked {
				t.Fatalf("round %d: ack went back from %d to %d", round, acked, v)
			}
			acked = v
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if strings.TrimSpace(stderr.String()) != "" {
			t.Fatalf("round %d: child failed: %s", round, stderr.String())
		}
		if _, err := Verify(dir); err != nil {
			repaired++ // a torn tail: Open repairs it below
		}
		l, err := Open(dir, Options{SegmentBytes: 256 << 10})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		next, _ := l.Last()
		if next < acked {
			t.Fatalf("round %d: log holds %d records, child had acknowledged %d", round, next, acked)
		}
		recs := readAll(t, l, acked-min(acked, 50))
		for _, r := range recs {
			if string(r.Payload) != string(payload(r.Seq)) {
				t.Fatalf("round %d: record %d payload %q", round, r.Seq, r.Payload)
			}
		}
		l.Close()
		if n, err := Verify(dir); err != nil || n != next {
			t.Fatalf("round %d: after reopen Verify = %d, %v", round, n, err)
		}
	}
	t.Logf("%d kills, %d acknowledged records kept, %d torn tails repaired", rounds, acked, repaired)
}
