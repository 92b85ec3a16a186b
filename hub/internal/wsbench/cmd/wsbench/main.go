// Command wsbench measures WebSocket libraries for Lineage's hub: idle
// memory per connection and broadcast throughput, each server in its own
// process, traffic on loopback only.
//
//	wsbench run     [flags]   runs every measurement and prints the table
//	wsbench server  [flags]   one library's minimal server (started by run)
//	wsbench client  [flags]   N raw WebSocket client connections (started by run)
//
// See ../../README.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runMain(os.Args[2:])
	case "server":
		err = serverMain(os.Args[2:])
	case "client":
		err = clientMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wsbench run|server|client [flags]  (wsbench <cmd> -h for flags)")
	os.Exit(2)
}
