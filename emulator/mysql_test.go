package emulator

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/mysqltest"
	"github.com/pinpipe/pinpipe/record"
)

func serverCredentials(s *mysqltest.Server) Credentials {
	return Credentials{Host: s.Host, Port: port(s.Port), Database: s.Database, User: s.User, Password: s.Password}
}

// readAll reads the three tables back, in index order, as a Dataset.
func readAll(t *testing.T, db *sql.DB) *Dataset {
	t.Helper()
	d := &Dataset{}
	rows, err := db.Query("SELECT `index`, unique_id, title, description, poster_name, follower_count, tag_list, is_image_or_video, image_src, downloaded, save_location, category FROM pinterest_data ORDER BY `index`")
	require.NoError(t, err)
	for rows.Next() {
		var p record.PinRow
		require.NoError(t, rows.Scan(&p.Index, &p.UniqueID, &p.Title, &p.Description, &p.PosterName, &p.FollowerCount, &p.TagList, &p.IsImageOrVideo, &p.ImageSrc, &p.Downloaded, &p.SaveLocation, &p.Category))
		d.Pins = append(d.Pins, p)
	}
	require.NoError(t, rows.Err())
	rows, err = db.Query("SELECT ind, `timestamp`, latitude, longitude, country FROM geolocation_data ORDER BY ind")
	require.NoError(t, err)
	for rows.Next() {
		var g record.GeoRow
		var ts sql.NullTime
		require.NoError(t, rows.Scan(&g.Ind, &ts, &g.Latitude, &g.Longitude, &g.Country))
		g.Timestamp = record.FormatTime(ts.Time)
		d.Geos = append(d.Geos, g)
	}
	require.NoError(t, rows.Err())
	rows, err = db.Query("SELECT ind, first_name, last_name, age, date_joined FROM user_data ORDER BY ind")
	require.NoError(t, err)
	for rows.Next() {
		var u record.UserRow
		var dj sql.NullTime
		require.NoError(t, rows.Scan(&u.Ind, &u.FirstName, &u.LastName, &u.Age, &dj))
		u.DateJoined = record.FormatTime(dj.Time)
		d.Users = append(d.Users, u)
	}
	require.NoError(t, rows.Err())
	return d
}

func TestSeedDBIsIdempotentWithRealTypes(t *testing.T) {
	srv := mysqltest.Start(t)
	ctx := context.Background()
	db, err := OpenDB(ctx, serverCredentials(srv))
	require.NoError(t, err)
	defer db.Close()

	big, err := Generate(5, 700)
	require.NoError(t, err)
	small, err := Generate(5, 300)
	require.NoError(t, err)
	var calls, last int
	require.NoError(t, SeedDB(ctx, db, big, 250, func(done, total int) { calls++; last = done; assert.Equal(t, 2100, total) }))
	assert.Equal(t, 9, calls, "3 batches per table")
	assert.Equal(t, 2100, last)
	assert.Equal(t, big, readAll(t, db))

	require.NoError(t, SeedDB(ctx, db, big, 0, nil))
	assert.Equal(t, big, readAll(t, db), "twice: same data")

	require.NoError(t, SeedDB(ctx, db, small, 0, nil))
	assert.Equal(t, small, readAll(t, db), "a smaller dataset leaves no stale rows")

	types := map[string]string{}
	rows, err := db.Query("SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME), DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()")
	require.NoError(t, err)
	for rows.Next() {
		var col, typ string
		require.NoError(t, rows.Scan(&col, &typ))
		types[col] = typ
	}
	require.NoError(t, rows.Err())
	for col, want := range map[string]string{
		"pinterest_data.index": "int", "pinterest_data.downloaded": "int", "pinterest_data.follower_count": "varchar",
		"geolocation_data.timestamp": "datetime", "geolocation_data.latitude": "double",
		"user_data.age": "int", "user_data.date_joined": "datetime",
	} {
		assert.Equal(t, want, types[col], col)
	}
}

func TestSeedDBRefusesTablesWithoutPrimaryKey(t *testing.T) {
	srv := mysqltest.Start(t)
	ctx := context.Background()
	db, err := OpenDB(ctx, serverCredentials(srv))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("CREATE TABLE geolocation_data (ind INT, `timestamp` DATETIME, latitude DOUBLE, longitude DOUBLE, country TEXT)")
	require.NoError(t, err)
	d, err := Generate(1, 10)
	require.NoError(t, err)
	err = SeedDB(ctx, db, d, 0, nil)
	assert.ErrorContains(t, err, "table geolocation_data exists without a primary key on `ind`")
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM geolocation_data").Scan(&n))
	assert.Zero(t, n, "nothing loaded")
}

func TestMySQLSourceReadsAlignedPostsByIndex(t *testing.T) {
	srv := mysqltest.Start(t)
	ctx := context.Background()
	d, err := Generate(9, 200)
	require.NoError(t, err)
	db, err := OpenDB(ctx, serverCredentials(srv))
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, SeedDB(ctx, db, d, 0, nil))

	src, err := NewMySQL(ctx, db, 1)
	require.NoError(t, err)
	defer src.Close()
	seen := map[int]bool{}
	for range 400 {
		p, err := src.Random(ctx)
		require.NoError(t, err)
		assert.Equal(t, d.Post(p.Pin.Index), p)
		seen[p.Pin.Index] = true
	}
	assert.Greater(t, len(seen), 150, "random over the whole range")

	// The lookup uses the primary keys: a range read on pinterest_data, key lookups on the others.
	rows, err := db.Query("EXPLAIN "+postQuery, 17)
	require.NoError(t, err)
	cols, err := rows.Columns()
	require.NoError(t, err)
	plan := map[string][2]string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		plan[row["table"]] = [2]string{row["type"], row["key"]}
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, "PRIMARY", plan["p"][1], "pinterest_data by primary key: %v", plan)
	assert.Contains(t, []string{"range", "const"}, plan["p"][0], "%v", plan)
	assert.Equal(t, [2]string{"eq_ref", "PRIMARY"}, plan["g"], "%v", plan)
	assert.Equal(t, [2]string{"eq_ref", "PRIMARY"}, plan["u"], "%v", plan)

	// Gaps are skipped: with only index 50 left, every pick lands on it.
	_, err = db.Exec("DELETE FROM pinterest_data WHERE `index` <> 50")
	require.NoError(t, err)
	for range 20 {
		p, err := src.Random(ctx)
		require.NoError(t, err)
		assert.Equal(t, 50, p.Pin.Index)
	}
}

func TestMySQLSourceEmptyTable(t *testing.T) {
	srv := mysqltest.Start(t)
	ctx := context.Background()
	db, err := OpenDB(ctx, serverCredentials(srv))
	require.NoError(t, err)
	defer db.Close()
	_, err = NewMySQL(ctx, db, 1)
	assert.ErrorContains(t, err, "run pinpipe seed-db")
	for _, q := range createTables {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	_, err = NewMySQL(ctx, db, 1)
	assert.ErrorContains(t, err, "pinterest_data is empty")
}

// TestEmulatorSurvivesClosedConnections kills every connection of the source's pool in the
// middle of a run: the pool must replace them and no post may be lost.
func TestEmulatorSurvivesClosedConnections(t *testing.T) {
	srv := mysqltest.Start(t)
	ctx := context.Background()
	d, err := Generate(11, 300)
	require.NoError(t, err)
	creds := serverCredentials(srv)
	seed, err := OpenDB(ctx, creds)
	require.NoError(t, err)
	require.NoError(t, SeedDB(ctx, seed, d, 0, nil))
	seed.Close()

	root, err := sql.Open("mysql", srv.RootDSN())
	require.NoError(t, err)
	defer root.Close()
	killAll := func() int {
		rows, err := root.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", srv.User)
		require.NoError(t, err)
		var ids []int64
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		for _, id := range ids {
			_, _ = root.Exec("KILL CONNECTION ?", id) // it may be gone already
		}
		return len(ids)
	}

	src, err := OpenMySQL(ctx, creds, 3)
	require.NoError(t, err)
	defer src.Close()
	var requests, killed atomic.Int64
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) {
		if n := requests.Add(1); n == 150 || n == 450 {
			killed.Add(int64(killAll()))
		}
		kafkaOK(w, 1)
	})
	st, err := Run(ctx, fastRetry(Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Batch, Count: 300, Concurrency: 4, Source: src,
	}))
	require.NoError(t, err)
	assert.Positive(t, killed.Load(), "connections were killed mid-run")
	assert.Equal(t, int64(900), st.Accepted)
	assert.Zero(t, st.Failed)
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	good := write("good.yml", "host: db.example.internal\nport: 3306\ndatabase: pinterest_data\nuser: admin\npassword: s3cret\n")
	c, err := ReadCredentials(good)
	require.NoError(t, err)
	assert.Equal(t, Credentials{Host: "db.example.internal", Port: 3306, Database: "pinterest_data", User: "admin", Password: "s3cret"}, c)
	assert.Equal(t, "admin@db.example.internal:3306/pinterest_data", c.String(), "no password")
	assert.NotContains(t, c.String(), "s3cret")
	dc := c.DriverConfig()
	assert.Equal(t, "preferred", dc.TLSConfig)
	assert.True(t, dc.ParseTime)

	// Keys in any case, as the original course's files sometimes have them.
	upper := write("upper.yml", "HOST: h\nPort: 3308\nDatabase: d\nUSER: u\nPassword: p\n")
	c, err = ReadCredentials(upper)
	require.NoError(t, err)
	assert.Equal(t, Credentials{Host: "h", Port: 3308, Database: "d", User: "u", Password: "p"}, c)

	quoted := write("quoted.yml", "host: h\nport: '3307'\ndatabase: d\nuser: u\npassword: p\n")
	c, err = ReadCredentials(quoted)
	require.NoError(t, err)
	assert.Equal(t, port(3307), c.Port)

	for body, want := range map[string]string{
		"host: h\ndatabase: d\nuser: u\nport: x\n":       `port "x"`,
		"host: h\ndatabase: d\n":                         "user: missing",
		"database: d\nuser: u\n":                         "host: missing",
		"host: h\ndatabase: d\nuser: u\npasword: typo\n": `line 4: unknown key "pasword"; the keys are host, port, database, user, password, socket, tls (any case)`,
		"host: h\nHost: g\ndatabase: d\nuser: u\n":       `line 2: key "Host" again (first on line 1)`,
		"":         "empty; want the keys host, port",
		"- host\n": "want key: value lines",
		"host: h\ndatabase: d\nuser: u\ntls: maybe\n": `tls "maybe"`,
	} {
		_, err := ReadCredentials(write("bad.yml", body))
		assert.ErrorContains(t, err, want, body)
	}

	env := map[string]string{EnvDBHost: "envhost", EnvDBPort: "3310", EnvDBName: "src", EnvDBUser: "me", EnvDBPassword: "pw"}
	getenv := func(k string) string { return env[k] }
	c, from, err := FindCredentials("", getenv)
	require.NoError(t, err)
	assert.Equal(t, "environment (PINPIPE_DB_*)", from)
	assert.Equal(t, Credentials{Host: "envhost", Port: 3310, Database: "src", User: "me", Password: "pw"}, c)

	c, from, err = FindCredentials(good, getenv)
	require.NoError(t, err)
	assert.Equal(t, good, from, "an explicit file wins")
	assert.Equal(t, "db.example.internal", c.Host)

	t.Chdir(dir)
	_, _, err = FindCredentials("", func(string) string { return "" })
	assert.ErrorContains(t, err, "no database credentials: write credentials_rds.yml")
	write(CredentialsFile, "host: cwd\ndatabase: d\nuser: u\n")
	c, from, err = FindCredentials("", func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, CredentialsFile, from)
	assert.Equal(t, "cwd", c.Host)

	env[EnvDBPort] = "99999"
	_, _, err = FindCredentials("", getenv)
	assert.ErrorContains(t, err, "PINPIPE_DB_PORT")
}
