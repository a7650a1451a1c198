package disasm

import (
	"fmt"
	"testing"
)

// BenchmarkAnalyzeSig compares the cost of the two signature versions on
// one worker: version 2 decodes again the instructions whose tokens do not
// fix their semantic elements.
func BenchmarkAnalyzeSig(b *testing.B) {
	f := benchFile(b)
	for _, v := range SigVersions {
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			b.SetBytes(int64(f.CodeBytes()))
			c0 := cpuTime()
			n := 0
			for b.Loop() {
				if _, err := Analyze(f, Options{SigVersion: v, Workers: 1}); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric((cpuTime()-c0).Seconds()/float64(n), "cpu-s/op")
		})
	}
}
