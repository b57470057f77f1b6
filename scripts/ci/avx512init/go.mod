module github.com/glipctl/glipctl/scripts/ci/avx512init

go 1.26
