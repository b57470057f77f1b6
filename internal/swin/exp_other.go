//go:build !amd64 || purego

package swin

func expSubSum(row []float32, mx float32) float32 { return expSubSumGo(row, mx) }
