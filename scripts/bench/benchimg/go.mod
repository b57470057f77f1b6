module github.com/glipctl/glipctl/scripts/bench/benchimg

go 1.26.8

require github.com/glipctl/glipctl v0.0.0

require github.com/x448/float16 v0.8.4 // indirect

replace github.com/glipctl/glipctl => ../../..
