package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/glipctl/glipctl/internal/zoo"
)

// DefaultProgressInterval is how often a non-terminal progress line is
// written.
const DefaultProgressInterval = 5 * time.Second

// NewProgress returns a zoo.ProgressFunc writing to w: a progress bar when
// w is a terminal (tty), else a short line every interval (0 means
// DefaultProgressInterval) and one when a file is complete. It is safe for
// concurrent use.
func NewProgress(w io.Writer, tty bool, interval time.Duration) zoo.ProgressFunc {
	if interval <= 0 {
		interval = DefaultProgressInterval
	}
	var (
		mu   sync.Mutex
		bar  *progressbar.ProgressBar
		last time.Time
	)
	if tty {
		return func(p zoo.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if bar == nil {
				if p.Final {
					return
				}
				bar = progressbar.NewOptions64(p.Total,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription(p.File),
					progressbar.OptionShowBytes(true),
					progressbar.OptionShowTotalBytes(true),
					progressbar.OptionShowCount(),
					progressbar.OptionUseIECUnits(true),
					progressbar.OptionSetWidth(30),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionSetSpinnerChangeInterval(0),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
				)
			}
			bar.Set64(p.Done)
			if p.Final {
				if p.Total >= 0 && p.Done == p.Total && !bar.IsFinished() {
					bar.Finish()
				} else if !bar.IsFinished() {
					bar.Exit()
				}
				bar = nil
			}
		}
	}
	return func(p zoo.Progress) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		switch {
		case p.Final && p.Total >= 0 && p.Done == p.Total:
			fmt.Fprintf(w, "%s: %s done\n", p.File, zoo.HumanBytes(p.Done))
		case p.Final:
		case last.IsZero():
			last = now
		case now.Sub(last) >= interval:
			last = now
			if p.Total > 0 {
				fmt.Fprintf(w, "%s: %s of %s (%d%%)\n", p.File, zoo.HumanBytes(p.Done), zoo.HumanBytes(p.Total), p.Done*100/p.Total)
			} else {
				fmt.Fprintf(w, "%s: %s\n", p.File, zoo.HumanBytes(p.Done))
			}
		}
		if p.Final {
			last = time.Time{}
		}
	}
}
