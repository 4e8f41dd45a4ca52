//go:build duckdb_arrow

package analytics

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/pinpipe/pinpipe/analytics/clean"
)

// A stage writer hands DuckDB a batch when it has stageRows rows (16 of DuckDB's vectors, a few
// megabytes of pins) or stageText bytes of text, whichever comes first: records with very long
// text make smaller batches, so a batch's memory stays bounded. (Variables for the tests, which
// cross batch boundaries with a few rows.)
var stageRows, stageText = 32768, 64 << 20

// stageWriter appends clean rows to a stage table through Arrow: the values are copied into C
// buffers column by column, and one INSERT ... SELECT over an Arrow stream takes the batches as
// they fill, with no cgo call per value. DuckDB's Appender takes each value through a cgo call
// of its own (each string too), which cost the batch job a third of its CPU time; an INSERT per
// batch costs a transaction each, and DuckDB merges each one's partial row groups again.
type stageWriter struct {
	table  string
	schema *arrow.Schema
	b      *array.RecordBuilder
	cols   []array.Builder // b's fields
	types  []string        // their DuckDB types
	n      int             // rows in b
	col    int             // the column the row being appended is at
	// strs are the builders of the text columns, and size what each held in the last batch: a
	// batch reserves that much at once rather than growing its buffers by doubling and copying.
	strs []*array.LargeStringBuilder
	size []int

	// err is the first error of appendRow: a row may have been appended to some columns and not
	// the others, so the writer takes nothing more, and close ends the INSERT without its rows.
	// (The ValueWriter methods record theirs here too.)
	err error

	batches chan arrow.RecordBatch // to the INSERT; closed by close
	done    chan error             // the INSERT's result
	stop    context.CancelFunc
}

// newStageWriter starts an INSERT into table on conn, whose columns are typed as types (DuckDB's
// names: BIGINT, DOUBLE, VARCHAR, TIMESTAMP, in the table's order). The INSERT ends, and its rows
// are committed, when close returns nil; on any error nothing of it is.
func newStageWriter(ctx context.Context, conn driver.Conn, table string, types []string) (*stageWriter, error) {
	dc, ok := conn.(*duckdb.Conn)
	if !ok {
		return nil, fmt.Errorf("stage %s: not a DuckDB connection (%T)", table, conn)
	}
	ar, err := duckdb.NewArrowFromConn(dc)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", table, err)
	}
	fields := make([]arrow.Field, len(types))
	for i, t := range types {
		var dt arrow.DataType
		switch t {
		case "BIGINT":
			dt = arrow.PrimitiveTypes.Int64
		case "DOUBLE":
			dt = arrow.PrimitiveTypes.Float64
		case "VARCHAR":
			// 64-bit offsets: a batch always has room for one more value, however long
			// (32-bit offsets would overflow silently past 2 GiB).
			dt = arrow.BinaryTypes.LargeString
		case "TIMESTAMP":
			dt = &arrow.TimestampType{Unit: arrow.Microsecond}
		default:
			return nil, fmt.Errorf("stage %s: column %d has type %s, which a stage cannot hold", table, i, t)
		}
		fields[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: dt, Nullable: true}
	}
	s := &stageWriter{table: table, schema: arrow.NewSchema(fields, nil),
		batches: make(chan arrow.RecordBatch), done: make(chan error, 1)}
	// The batches are in C memory: each is freed as soon as DuckDB has copied it, not when the
	// garbage collector gets to it.
	s.b = array.NewRecordBuilder(mallocator.NewMallocator(), s.schema)
	s.types = types
	for i := range fields {
		s.cols = append(s.cols, s.b.Field(i))
		if sb, ok := s.b.Field(i).(*array.LargeStringBuilder); ok {
			s.strs, s.size = append(s.strs, sb), append(s.size, 0)
		}
	}
	s.reserve()

	ctx, s.stop = context.WithCancel(ctx)
	rd := &batchReader{ctx: ctx, schema: s.schema, batches: s.batches}
	rd.refs.Store(1)
	view := "_arrow_" + strings.Trim(table, `"`)
	release, err := ar.RegisterView(rd, view)
	if err != nil {
		s.b.Release()
		s.stop()
		return nil, fmt.Errorf("stage %s: %w", table, err)
	}
	go func() {
		q := "INSERT INTO " + quoteIdent(table) + " SELECT * FROM " + quoteIdent(view)
		_, err := dc.ExecContext(ctx, q, nil)
		if err == nil {
			release()
		}
		// After an error DuckDB may still call the stream (an interrupted query's scan tasks end
		// after the query does), so it is left allocated, answering that it failed: a few
		// bytes, once in a failed run.
		s.done <- err
	}()
	return s, nil
}

// appendRow appends a clean row, its values laid out as stageColumns has them (a DOUBLE[] as
// two DOUBLE columns).
func (s *stageWriter) appendRow(ctx context.Context, row clean.Row) error {
	if s.err != nil {
		return s.err
	}
	s.col = 0
	row.WriteValues(s)
	if s.err == nil && s.col != len(s.cols) {
		s.err = fmt.Errorf("stage %s: %d values for %d columns", s.table, s.col, len(s.cols))
	}
	if s.err != nil {
		return s.err
	}
	if s.n++; s.n >= stageRows || s.text() >= stageText {
		s.err = s.send(ctx)
	}
	return s.err
}

// text is the bytes of text in the batch being gathered.
func (s *stageWriter) text() int {
	n := 0
	for _, sb := range s.strs {
		n += sb.DataLen()
	}
	return n
}

// Int, Text, Time and Floats make the writer the clean.ValueWriter of the rows it appends: each
// takes the next column's builder, of the type it writes, or records why not.
func (s *stageWriter) Int(v *int64) {
	if b, ok := s.next().(*array.Int64Builder); ok {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(*v)
		}
	} else {
		s.wrong("an integer")
	}
}

func (s *stageWriter) Text(v *string) {
	if b, ok := s.next().(*array.LargeStringBuilder); ok {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(*v)
		}
	} else {
		s.wrong("text")
	}
}

func (s *stageWriter) Time(v *time.Time) {
	if b, ok := s.next().(*array.TimestampBuilder); ok {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(arrow.Timestamp(v.UnixMicro()))
		}
	} else {
		s.wrong("a timestamp")
	}
}

// Floats stages a DOUBLE[] (a geo's [latitude, longitude]) as two DOUBLE columns.
func (s *stageWriter) Floats(v []float64) {
	if v != nil && len(v) != 2 {
		if s.err == nil {
			s.err = fmt.Errorf("stage %s column %d: a list of %d numbers, want 2", s.table, s.col, len(v))
		}
		return
	}
	for i := range 2 {
		b, ok := s.next().(*array.Float64Builder)
		if !ok {
			s.wrong("a list of numbers")
			return
		}
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(v[i])
		}
	}
}

// next moves to the next column and returns its builder; nil after an error, or past the last
// column (recording that).
func (s *stageWriter) next() array.Builder {
	if s.err != nil {
		return nil
	}
	if s.col >= len(s.cols) {
		s.err = fmt.Errorf("stage %s: more values than its %d columns", s.table, len(s.cols))
		return nil
	}
	s.col++
	return s.cols[s.col-1]
}

// wrong records that the value given for the current column (next's) is not of its type.
func (s *stageWriter) wrong(what string) {
	if s.err == nil {
		s.err = fmt.Errorf("stage %s column %d: %s in a %s column", s.table, s.col-1, what, s.types[s.col-1])
	}
}

// send hands the rows gathered so far to the INSERT, waiting while it takes the one before.
func (s *stageWriter) send(ctx context.Context) error {
	if s.n == 0 {
		return nil
	}
	s.n = 0
	for i, sb := range s.strs {
		s.size[i] = sb.DataLen()
	}
	rec := s.b.NewRecordBatch()
	s.reserve()
	select {
	case s.batches <- rec:
		return nil
	case err := <-s.done:
		rec.Release()
		if err == nil {
			err = errors.New("the INSERT ended before its rows did")
		}
		s.done <- err // for close
		return fmt.Errorf("stage %s: %w", s.table, err)
	case <-ctx.Done():
		rec.Release()
		return ctx.Err()
	}
}

// reserve makes room for a batch: stageRows rows, and a little more text than the last batch had
// (at most stageText in all).
func (s *stageWriter) reserve() {
	s.b.Reserve(stageRows)
	total := 0
	for _, n := range s.size {
		total += n
	}
	for i, sb := range s.strs {
		n := s.size[i] + s.size[i]/8
		if total > stageText {
			n = int(int64(n) * int64(stageText) / int64(total))
		}
		sb.ReserveData(n)
	}
}

// close sends what is left and waits for the INSERT to commit. Called after an error (or with
// ctx cancelled), it ends the INSERT without its rows.
func (s *stageWriter) close(ctx context.Context) error {
	defer s.b.Release()
	err := s.err
	if err == nil {
		err = s.send(ctx)
	}
	if err != nil {
		s.stop()
	}
	close(s.batches)
	if e := <-s.done; err == nil && e != nil {
		err = fmt.Errorf("stage %s: %w", s.table, e)
	}
	s.stop()
	return err
}

// abort ends the INSERT without its rows.
func (s *stageWriter) abort() {
	s.stop()
	s.b.Release()
	close(s.batches)
	<-s.done
}

// batchReader is the Arrow stream the INSERT reads: the batches a stageWriter sends, until it
// closes the channel (the end) or ctx ends (an error, so the INSERT fails and keeps nothing).
type batchReader struct {
	refs    atomic.Int64
	ctx     context.Context
	schema  *arrow.Schema
	batches <-chan arrow.RecordBatch

	mu  sync.Mutex
	cur arrow.RecordBatch
	err error
}

func (r *batchReader) Retain() { r.refs.Add(1) }

func (r *batchReader) Release() {
	if r.refs.Add(-1) == 0 {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.cur != nil {
			r.cur.Release()
			r.cur = nil
		}
	}
}

func (r *batchReader) Schema() *arrow.Schema { return r.schema }

func (r *batchReader) Next() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err == nil {
		select {
		case rec, ok := <-r.batches:
			if ok {
				r.cur = rec
			}
		case <-r.ctx.Done():
		}
		// The writer cancels ctx before it closes the channel on an error: a closed channel is
		// the end of the rows only when ctx is not done, else the INSERT would commit them.
		if err := r.ctx.Err(); err != nil {
			r.err = err
			if r.cur != nil {
				r.cur.Release()
				r.cur = nil
			}
		}
	}
	return r.cur != nil
}

func (r *batchReader) RecordBatch() arrow.RecordBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Record is RecordBatch (array.RecordReader still asks for both).
func (r *batchReader) Record() arrow.RecordBatch { return r.RecordBatch() }

func (r *batchReader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
