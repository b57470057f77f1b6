// Command glipctl converts, inspects and runs the GLIP Swin vision backbones.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], defaultStreams()))
}
