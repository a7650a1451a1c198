package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/postgres/pgtest"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
	"github.com/kinship-dev/kinship/internal/store/storetest"
)

const benchFns = 20_000 // functions per sample, as the SQLite store's benchmarks

// BenchmarkPutSample measures store-only ingest (no analysis): samples of
// 20,000 synthetic functions written by 1 and 4 concurrent writers, into
// SQLite and into PostgreSQL, so that the two backends compare on the same
// data.
func BenchmarkPutSample(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) model.Store
	}{
		{"sqlite", func(b *testing.B) model.Store {
			db, err := sqlite.Open(b.TempDir()+"/k.db", sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return db
		}},
		{"postgres", func(b *testing.B) model.Store { return pgtest.Open(b) }},
	}
	for _, be := range backends {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/writers=%d", be.name, writers), func(b *testing.B) {
				st := be.open(b)
				defer st.Close()
				samples := make([]model.Sample, b.N)
				lists := make([][]model.Function, b.N)
				for i := range samples {
					samples[i], lists[i] = storetest.MakeSample(uint64(i), benchFns)
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make([]error, writers)
				b.ResetTimer()
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(next.Add(1)) - 1
							if i >= b.N {
								return
							}
							if _, err := st.PutSample(context.Background(), samples[i], lists[i]); err != nil {
								errs[w] = err
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*benchFns)/b.Elapsed().Seconds(), "functions/s")
			})
		}
	}
}

// BenchmarkLoad reads every function of a 50-sample, million-function
// store the way attribute.Load does (Samples, then Functions per sample).
func BenchmarkLoad(b *testing.B) {
	const samples = 50
	fill := func(b *testing.B, st model.Store) {
		for i := 0; i < samples; i++ {
			s, fns := storetest.MakeSample(uint64(i), benchFns)
			if _, err := st.PutSample(context.Background(), s, fns); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			var st model.Store
			if name == "sqlite" {
				db, err := sqlite.Open(b.TempDir()+"/k.db", sqlite.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				st = db
			} else {
				st = pgtest.Open(b)
			}
			fill(b, st)
			ctx := context.Background()
			b.ResetTimer()
			total := 0
			for i := 0; i < b.N; i++ {
				all, err := st.Samples(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range all {
					fns, err := st.Functions(ctx, s.SHA256)
					if err != nil {
						b.Fatal(err)
					}
					total += len(fns)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "functions/s")
		})
	}
}
