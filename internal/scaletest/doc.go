// Package scaletest runs Lineage beyond one machine, for real: a 3-node
// NATS JetStream cluster — in the test's process (TestFailover) or as
// three nats-server processes built from the module go.mod requires
// (TestNATSFaults) — `lineage serve --nats-url` and two `lineage edge`
// processes built from ./cmd/lineage, and a few hundred protocol clients,
// through the failures the design must survive (docs/scale-out.md,
// "Tests").
//
// The tests are behind the build tag "integration": they start real
// processes and a few hundred clients, and want a machine that is not also
// running the rest of the suite. .ci/run runs them on their own after it:
//
//	go test -tags integration -count=1 ./internal/scaletest/
package scaletest
