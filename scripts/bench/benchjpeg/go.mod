module github.com/glipctl/glipctl/scripts/bench/benchjpeg

go 1.26.8

require github.com/glipctl/glipctl v0.0.0

replace github.com/glipctl/glipctl => ../../..
