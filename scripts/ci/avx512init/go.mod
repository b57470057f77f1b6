module github.com/glipctl/glipctl/scripts/avx512init

go 1.26
