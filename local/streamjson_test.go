package local

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/record"
)

// What Firehose puts in the Iceberg tables on AWS equals what the local stream tables hold: the
// stream cleaner's JSON timestamps (epoch microseconds, as Firehose requires) are, turned into
// timestamps by DuckDB's make_timestamp, exactly the TIMESTAMP values the local cleaner stores
// from the same records (the local tables keep TIMESTAMP columns).
func TestStreamJSONMatchesLocalTables(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	raw := map[record.Kind][]string{
		record.Geo: {
			`{"ind": 1, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "Albania"}`,
			`{"ind": 2, "timestamp": "2017-01-01T00:00:00", "latitude": 1, "longitude": 2, "country": "Chad"}`,
			`{"ind": 3, "timestamp": "2022-12-31 23:59:59", "latitude": 0, "longitude": 0, "country": ""}`,
		},
		record.User: {
			`{"ind": 1, "first_name": "Ann", "last_name": "Lee", "age": 20, "date_joined": "2015-10-24 11:23:51"}`,
			`{"ind": 2, "first_name": "Bo", "last_name": "", "age": 59, "date_joined": "2017-02-28T08:00:01"}`,
		},
	}
	column := map[record.Kind]string{record.Geo: "timestamp", record.User: "date_joined"}
	for kind, lines := range raw {
		table := record.StreamTable("demo", kind)
		_, err := db.Exec(clean.TableDDL(kind, table))
		require.NoError(t, err)
		recs := make([]clean.StreamRecord, len(lines))
		for i, l := range lines {
			recs[i] = clean.StreamRecord{ID: fmt.Sprint(i), Data: []byte(l)}
		}
		results := clean.CleanStream(kind, recs)
		ncols := len(clean.Columns(kind))
		for _, res := range results {
			require.NoError(t, res.Err)
			// As the local cleaner loads a row: its Values into the TableDDL table.
			_, err := db.Exec(fmt.Sprintf("INSERT INTO %q VALUES (%s)", table, strings.TrimSuffix(strings.Repeat("?,", ncols), ",")), res.Row.Values()...)
			require.NoError(t, err)

			dec := json.NewDecoder(strings.NewReader(string(res.JSON)))
			dec.UseNumber()
			var row map[string]interface{}
			require.NoError(t, dec.Decode(&row))
			us, ok := row[column[kind]].(json.Number)
			require.True(t, ok, "%s %s is %T, want epoch microseconds", kind, column[kind], row[column[kind]])
			var same bool
			var local string
			err = db.QueryRow(fmt.Sprintf(`SELECT make_timestamp(CAST(? AS BIGINT)) = %q, CAST(%q AS VARCHAR) FROM %q WHERE ind = ?`,
				column[kind], column[kind], table), us.String(), res.Row.Ind()).Scan(&same, &local)
			require.NoError(t, err)
			assert.True(t, same, "%s ind %d: Firehose gets %s µs, the local table holds %s", kind, res.Row.Ind(), us, local)
		}
		var typ string
		require.NoError(t, db.QueryRow(fmt.Sprintf(`SELECT data_type FROM information_schema.columns WHERE table_name = '%s' AND column_name = '%s'`,
			table, column[kind])).Scan(&typ))
		assert.Equal(t, "TIMESTAMP", typ)
	}
}
