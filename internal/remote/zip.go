package remote

import (
	"archive/zip"
	"sync"
)

// WarmZip prepares the cache for a reader of the zip archive in f (a
// PyTorch checkpoint): it reads the central directory, then the local
// header of every entry with up to workers concurrent requests, so that a
// reader that walks the entries one by one (each local header is a small
// read at its own place in the file) finds them cached instead of making
// one request after another. Errors are left to that reader, which
// reports them: WarmZip only warms.
func (f *File) WarmZip(workers int) {
	zr, err := zip.NewReader(f, f.size)
	if err != nil {
		return
	}
	if workers < 1 {
		workers = 1
	}
	jobs := make(chan *zip.File)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for zf := range jobs {
				zf.DataOffset() // reads the local header
			}
		}()
	}
	for _, zf := range zr.File {
		if f.ctx.Err() != nil {
			break
		}
		jobs <- zf
	}
	close(jobs)
	wg.Wait()
}
