package analytics

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/record"
)

// stageTest opens a DuckDB with the stage tables and clean views of the three kinds, and a
// connection for a writer.
func stageTest(t *testing.T) (*sql.DB, driver.Conn) {
	t.Helper()
	ctx := context.Background()
	db, c, err := openDuck(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	for _, k := range record.Kinds {
		_, err = db.Exec(stageDDL(stageTable(k), k))
		require.NoError(t, err)
		_, err = db.Exec(cleanView(newView(k), stageTable(k), k))
		require.NoError(t, err)
	}
	conn, err := c.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return db, conn
}

// rowsOf reads a query's rows, each printed with fmt.Sprint (times in UTC).
func rowsOf(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals, ptrs := make([]any, len(cols)), make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		out = append(out, printRow(vals))
	}
	require.NoError(t, rows.Err())
	return out
}

func printRow(vals []any) string {
	for i, v := range vals {
		switch v := v.(type) {
		case time.Time:
			vals[i] = v.UTC()
		case []any: // a DOUBLE[] read back
			f := make([]float64, len(v))
			for j := range v {
				f[j] = v[j].(float64)
			}
			vals[i] = f
		}
	}
	return fmt.Sprint(vals...)
}

// smallBatches makes the writers gather n rows a batch for the test.
func smallBatches(t *testing.T, n int) {
	old := stageRows
	stageRows = n
	t.Cleanup(func() { stageRows = old })
}

func ptr[T any](v T) *T { return &v }

// Every value of every kind comes back from the clean views as the row had it, across batch
// boundaries: nulls of every type, empty and long text (DuckDB inlines text up to 12 bytes),
// text that is not ASCII, timestamps to the microsecond, coordinates, the extremes of BIGINT.
func TestStageWriterKeepsEveryValue(t *testing.T) {
	smallBatches(t, 3)
	db, conn := stageTest(t)
	ts := time.Date(2022, 3, 4, 5, 6, 7, 891011000, time.UTC)
	long := strings.Repeat("long text ", 50)
	rows := map[record.Kind][]clean.Row{
		record.Pin: {
			&clean.Pin{Index: 1, UniqueID: ptr("u-1"), Title: ptr("Zoë 🎨 カテゴリ"), Description: ptr(long),
				FollowerCount: ptr(int64(136000)), PosterName: ptr(""), TagList: ptr("a,b"), IsImageOrVideo: ptr("image"),
				ImageSrc: ptr("https://i.pinimg.com/x.jpg"), SaveLocation: ptr("/data/art"), Category: ptr("art")},
			&clean.Pin{Index: -9223372036854775808},
			&clean.Pin{Index: 9223372036854775807, FollowerCount: ptr(int64(0)), Category: ptr("the last, alone in its batch")},
			&clean.Pin{Index: 4, Title: ptr(long + "é")},
		},
		record.Geo: {
			&clean.Geo{Index: 1, Country: ptr("Côte d'Ivoire"), Coordinates: []float64{-89.9787, -173.293}, Timestamp: &ts},
			&clean.Geo{Index: 2},
			&clean.Geo{Index: 3, Coordinates: []float64{0, 1e300}, Timestamp: ptr(ts.Add(time.Microsecond))},
			&clean.Geo{Index: 4, Country: ptr(""), Timestamp: ptr(time.Unix(0, 0).UTC())},
		},
		record.User: {
			&clean.User{Index: 1, UserName: ptr("Ann Lee"), Age: ptr(int64(20)), DateJoined: &ts},
			&clean.User{Index: 2},
			&clean.User{Index: 3, UserName: ptr(long), Age: ptr(int64(-1))},
			&clean.User{Index: 4, DateJoined: ptr(time.Date(1901, 1, 1, 0, 0, 0, 1000, time.UTC))},
		},
	}
	ctx := context.Background()
	for _, k := range record.Kinds {
		_, types := stageColumns(k)
		w, err := newStageWriter(ctx, conn, stageTable(k), types)
		require.NoError(t, err)
		var want []string
		for _, r := range rows[k] {
			require.NoError(t, w.appendRow(ctx, r))
			want = append(want, printRow(r.Values()))
		}
		require.NoError(t, w.close(ctx))
		// DuckDB keeps no insertion order here (preserve_insertion_order=false).
		assert.ElementsMatch(t, want, rowsOf(t, db, "SELECT * FROM "+quoteIdent(newView(k))), "%s", k)
	}
}

// A row that does not fit the table is an error naming the table and the column, the writer
// takes nothing after it (the row was half appended), and nothing it took is committed.
func TestStageWriterWrongRowKeepsNothing(t *testing.T) {
	smallBatches(t, 2)
	db, conn := stageTest(t)
	ctx := context.Background()
	_, types := stageColumns(record.User)
	w, err := newStageWriter(ctx, conn, stageTable(record.User), types)
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, w.appendRow(ctx, &clean.User{Index: int64(i), UserName: ptr("ok")}))
	}
	err = w.appendRow(ctx, &clean.Geo{Index: 6, Country: ptr("x")})
	require.Error(t, err)
	assert.Equal(t, `stage _stage_user column 2: a list of numbers in a BIGINT column`, err.Error())
	assert.Equal(t, err, w.appendRow(ctx, &clean.User{Index: 8}))
	assert.Equal(t, err, w.close(ctx))
	assert.Equal(t, []string{"0"}, rowsOf(t, db, "SELECT count(*) FROM _stage_user"))

	_, types = stageColumns(record.Geo)
	for _, c := range []struct {
		row  clean.Row
		want string
	}{
		{&clean.Geo{Index: 1, Coordinates: []float64{1}}, "stage _stage_geo column 2: a list of 1 numbers, want 2"},
		{&clean.User{Index: 1}, "stage _stage_geo column 2: an integer in a DOUBLE column"},
		{&clean.Pin{Index: 1}, "stage _stage_geo column 2: text in a DOUBLE column"},
	} {
		w, err = newStageWriter(ctx, conn, stageTable(record.Geo), types)
		require.NoError(t, err)
		require.NoError(t, w.appendRow(ctx, &clean.Geo{Index: 9}))
		assert.EqualError(t, w.appendRow(ctx, c.row), c.want)
		w.abort()
	}
	assert.Equal(t, []string{"0"}, rowsOf(t, db, "SELECT count(*) FROM _stage_geo"))

	// A row with fewer values than the writer has columns.
	_, types = stageColumns(record.Pin)
	w, err = newStageWriter(ctx, conn, stageTable(record.Pin), append(types[:len(types):len(types)], "BIGINT"))
	require.NoError(t, err)
	assert.EqualError(t, w.appendRow(ctx, &clean.Pin{Index: 1}), "stage _stage_pin: 11 values for 12 columns")
	w.abort()
	assert.Equal(t, []string{"0"}, rowsOf(t, db, "SELECT count(*) FROM _stage_pin"))
}

// A run cancelled while loading commits nothing of what it appended, and the writer returns.
func TestStageWriterCancelKeepsNothing(t *testing.T) {
	smallBatches(t, 4)
	db, conn := stageTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, types := stageColumns(record.User)
	w, err := newStageWriter(ctx, conn, stageTable(record.User), types)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, w.appendRow(ctx, &clean.User{Index: int64(i)}))
	}
	cancel()
	var appendErr error
	for i := 0; i < 100 && appendErr == nil; i++ {
		appendErr = w.appendRow(ctx, &clean.User{Index: int64(i)})
	}
	assert.Error(t, appendErr)
	assert.Error(t, w.close(ctx))
	assert.Equal(t, []string{"0"}, rowsOf(t, db, "SELECT count(*) FROM _stage_user"))
}

// A column type a stage cannot hold is refused when the writer is made, by name.
func TestStageWriterUnknownType(t *testing.T) {
	_, conn := stageTest(t)
	_, err := newStageWriter(context.Background(), conn, stageTable(record.Geo), []string{"BIGINT", "VARCHAR", "DOUBLE[]"})
	assert.EqualError(t, err, "stage _stage_geo: column 2 has type DOUBLE[], which a stage cannot hold")
}

// Long text makes smaller batches: a batch goes to DuckDB once it holds stageText bytes of text,
// however few rows it has, so its memory stays bounded; every row still arrives whole.
func TestStageWriterLongTextMakesSmallerBatches(t *testing.T) {
	smallBatches(t, 1000)
	old := stageText
	stageText = 100
	t.Cleanup(func() { stageText = old })
	db, conn := stageTest(t)
	ctx := context.Background()
	_, types := stageColumns(record.User)
	w, err := newStageWriter(ctx, conn, stageTable(record.User), types)
	require.NoError(t, err)
	var want []string
	for i := range 7 {
		r := &clean.User{Index: int64(i), UserName: ptr(strings.Repeat(string(rune('a'+i)), 30*(i+1)))}
		require.NoError(t, w.appendRow(ctx, r))
		want = append(want, printRow(r.Values()))
		if i >= 3 { // 120 bytes and more: each of these rows is a batch of its own
			assert.Zero(t, w.n, "row %d was sent at once", i)
		}
	}
	require.NoError(t, w.close(ctx))
	assert.ElementsMatch(t, want, rowsOf(t, db, "SELECT * FROM "+quoteIdent(newView(record.User))))
}
