// Command glipctl converts, inspects and runs the GLIP Swin vision backbones.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// One root context for every command: SIGINT and SIGTERM cancel it, and
	// each command stops cleanly (download keeps its .part for resume;
	// convert and forward leave nothing behind).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], defaultStreams())
	stop()
	os.Exit(code)
}
