package analytics

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stageTest opens a DuckDB with table t of the given columns, and a connection for a writer.
func stageTest(t *testing.T, cols string) (query func(string) [][]any, conn driver.Conn) {
	t.Helper()
	ctx := context.Background()
	db, c, err := openDuck(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec("CREATE TABLE t (" + cols + ")")
	require.NoError(t, err)
	conn, err = c.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return func(q string) [][]any {
		rows, err := db.Query(q)
		require.NoError(t, err)
		defer rows.Close()
		cts, err := rows.ColumnTypes()
		require.NoError(t, err)
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cts))
			ptrs := make([]any, len(cts))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			out = append(out, vals)
		}
		require.NoError(t, rows.Err())
		return out
	}, conn
}

// smallBatches makes the writers gather n rows a batch for the test.
func smallBatches(t *testing.T, n int) {
	old := stageRows
	stageRows = n
	t.Cleanup(func() { stageRows = old })
}

// Every value comes back as it went in, across batch boundaries: nulls of every type, empty and
// long text (DuckDB inlines text up to 12 bytes), text that is not ASCII, timestamps to the
// microsecond, and the extremes of BIGINT.
func TestStageWriterKeepsEveryValue(t *testing.T) {
	smallBatches(t, 3)
	query, conn := stageTest(t, "n BIGINT, x DOUBLE, s VARCHAR, ts TIMESTAMP")
	ts := time.Date(2022, 3, 4, 5, 6, 7, 891011000, time.UTC)
	want := [][]driver.Value{
		{int64(1), 1.5, "short", ts},
		{nil, nil, nil, nil},
		{int64(-9223372036854775808), -0.25, "", ts.Add(time.Microsecond)},
		{int64(9223372036854775807), 1e300, strings.Repeat("long text ", 50), time.Unix(0, 0).UTC()},
		{int64(5), nil, "Zoë 🎨 カテゴリ", nil},
		{int64(6), 2.0, nil, ts},
		{int64(7), 3.0, "the last, alone in its batch", ts},
	}
	ctx := context.Background()
	w, err := newStageWriter(ctx, conn, "t", []string{"BIGINT", "DOUBLE", "VARCHAR", "TIMESTAMP"})
	require.NoError(t, err)
	for _, row := range want {
		require.NoError(t, w.appendRow(ctx, row))
	}
	require.NoError(t, w.close(ctx))

	got := query("SELECT n, x, s, ts FROM t ORDER BY rowid")
	require.Len(t, got, len(want))
	// DuckDB keeps no insertion order here (preserve_insertion_order=false): match rows by text.
	key := func(r []any) string { return fmt.Sprint(r...) }
	var wantKeys, gotKeys []string
	for _, r := range want {
		vals := make([]any, len(r))
		for i, v := range r {
			vals[i] = v
		}
		wantKeys = append(wantKeys, key(vals))
	}
	for _, r := range got {
		if t, ok := r[3].(time.Time); ok {
			r[3] = t.UTC()
		}
		gotKeys = append(gotKeys, key(r))
	}
	assert.ElementsMatch(t, wantKeys, gotKeys)
}

// A value of the wrong type is an error naming the table and the column, and the rows already
// appended are not committed: the table is as it was.
func TestStageWriterWrongTypeKeepsNothing(t *testing.T) {
	smallBatches(t, 2)
	query, conn := stageTest(t, "n BIGINT, s VARCHAR")
	ctx := context.Background()
	w, err := newStageWriter(ctx, conn, "t", []string{"BIGINT", "VARCHAR"})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, w.appendRow(ctx, []driver.Value{int64(i), "ok"}))
	}
	err = w.appendRow(ctx, []driver.Value{int64(6), 7})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stage t column 1: a int in a VARCHAR column")
	// The row was half appended: the writer takes no more, and commits nothing.
	assert.Equal(t, err, w.appendRow(ctx, []driver.Value{int64(8), "ok"}))
	assert.Equal(t, err, w.close(ctx))
	assert.Equal(t, [][]any{{int64(0)}}, query("SELECT count(*) FROM t"))

	w, err = newStageWriter(ctx, conn, "t", []string{"BIGINT", "VARCHAR"})
	require.NoError(t, err)
	require.NoError(t, w.appendRow(ctx, []driver.Value{int64(1), "ok"}))
	assert.ErrorContains(t, w.appendRow(ctx, []driver.Value{int64(1)}), "stage t: 1 values for 2 columns")
	w.abort()
	assert.Equal(t, [][]any{{int64(0)}}, query("SELECT count(*) FROM t"))
}

// A run cancelled while loading commits nothing of what it appended, and the writer returns.
func TestStageWriterCancelKeepsNothing(t *testing.T) {
	smallBatches(t, 4)
	query, conn := stageTest(t, "n BIGINT")
	ctx, cancel := context.WithCancel(context.Background())
	w, err := newStageWriter(ctx, conn, "t", []string{"BIGINT"})
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, w.appendRow(ctx, []driver.Value{int64(i)}))
	}
	cancel()
	var appendErr error
	for i := 0; i < 100 && appendErr == nil; i++ {
		appendErr = w.appendRow(ctx, []driver.Value{int64(i)})
	}
	assert.Error(t, appendErr)
	assert.Error(t, w.close(ctx))
	assert.Equal(t, [][]any{{int64(0)}}, query("SELECT count(*) FROM t"))
}

// A column type a stage cannot hold is refused when the writer is made, by name.
func TestStageWriterUnknownType(t *testing.T) {
	_, conn := stageTest(t, "l DOUBLE[]")
	_, err := newStageWriter(context.Background(), conn, "t", []string{"DOUBLE[]"})
	assert.ErrorContains(t, err, "stage t: column 0 has type DOUBLE[], which a stage cannot hold")
}
