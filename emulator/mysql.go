package emulator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"gopkg.in/yaml.v3"

	"github.com/pinpipe/pinpipe/record"
)

// CredentialsFile is the file the original posting scripts read in the working directory.
const CredentialsFile = "credentials_rds.yml"

// Credentials locate and open the source database. The YAML keys are the original
// credentials_rds.yml keys; socket and tls are ours and optional.
type Credentials struct {
	Host     string `yaml:"host"`
	Port     port   `yaml:"port"`
	Database string `yaml:"database"`
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Socket   string `yaml:"socket"` // a unix socket instead of host and port
	// TLS is the driver's tls setting: "preferred" (default: TLS when the server offers it),
	// "true" (required, verified), "skip-verify" or "false".
	TLS string `yaml:"tls"`
}

// port accepts a YAML number or a quoted number.
type port int

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil || v < 1 || v > 65535 {
		return fmt.Errorf("port %q: want a number from 1 to 65535", n.Value)
	}
	*p = port(v)
	return nil
}

// Environment variables that supply Credentials when no file is named.
const (
	EnvDBHost     = "PINPIPE_DB_HOST"
	EnvDBPort     = "PINPIPE_DB_PORT"
	EnvDBName     = "PINPIPE_DB_NAME"
	EnvDBUser     = "PINPIPE_DB_USER"
	EnvDBPassword = "PINPIPE_DB_PASSWORD"
	EnvDBSocket   = "PINPIPE_DB_SOCKET"
	EnvDBTLS      = "PINPIPE_DB_TLS"
)

// ReadCredentials reads a credentials_rds.yml file.
func ReadCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials: %w", err)
	}
	c, err := parseCredentials(b)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, fmt.Errorf("credentials %s: %w", path, err)
	}
	return c, nil
}

// credentialKeys are the keys of a credentials file, in the order the error lists them.
var credentialKeys = []string{"host", "port", "database", "user", "password", "socket", "tls"}

// parseCredentials decodes a credentials_rds.yml: keys match whatever their case (HOST, Host and
// host are one key, as people write them), and an unknown key is named with the allowed ones.
func parseCredentials(b []byte) (Credentials, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return Credentials{}, err
	}
	if len(root.Content) == 0 {
		return Credentials{}, fmt.Errorf("empty; want the keys %s", strings.Join(credentialKeys, ", "))
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return Credentials{}, fmt.Errorf("line %d: want key: value lines (%s)", m.Line, strings.Join(credentialKeys, ", "))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		key := strings.ToLower(strings.TrimSpace(k.Value))
		if !slices.Contains(credentialKeys, key) {
			return Credentials{}, fmt.Errorf("line %d: unknown key %q; the keys are %s (any case)", k.Line, k.Value, strings.Join(credentialKeys, ", "))
		}
		if first, dup := seen[key]; dup {
			return Credentials{}, fmt.Errorf("line %d: key %q again (first on line %d)", k.Line, k.Value, first)
		}
		seen[key] = k.Line
		k.Value = key
	}
	var c Credentials
	if err := m.Decode(&c); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// CredentialsFromEnv reads PINPIPE_DB_* variables; ok is false when none of host, socket or
// database is set.
func CredentialsFromEnv(getenv func(string) string) (c Credentials, ok bool, err error) {
	c = Credentials{
		Host: getenv(EnvDBHost), Database: getenv(EnvDBName), User: getenv(EnvDBUser),
		Password: getenv(EnvDBPassword), Socket: getenv(EnvDBSocket), TLS: getenv(EnvDBTLS),
	}
	if c.Host == "" && c.Socket == "" && c.Database == "" {
		return Credentials{}, false, nil
	}
	if p := getenv(EnvDBPort); p != "" {
		if err := c.Port.UnmarshalYAML(&yaml.Node{Value: p}); err != nil {
			return Credentials{}, true, fmt.Errorf("%s: %w", EnvDBPort, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, true, fmt.Errorf("credentials from %s...: %w", "PINPIPE_DB_", err)
	}
	return c, true, nil
}

// FindCredentials returns the credentials to use and where they came from: the file named by
// path when not empty, else the PINPIPE_DB_* variables when set, else credentials_rds.yml in the
// working directory.
func FindCredentials(path string, getenv func(string) string) (Credentials, string, error) {
	if path != "" {
		c, err := ReadCredentials(path)
		return c, path, err
	}
	if c, ok, err := CredentialsFromEnv(getenv); ok {
		return c, "environment (PINPIPE_DB_*)", err
	}
	if _, err := os.Stat(CredentialsFile); err == nil {
		c, err := ReadCredentials(CredentialsFile)
		return c, CredentialsFile, err
	}
	return Credentials{}, "", fmt.Errorf("no database credentials: write %s in the working directory (keys host, port, database, user, password), name a file with --credentials, or set %s, %s, %s, %s and %s",
		CredentialsFile, EnvDBHost, EnvDBPort, EnvDBName, EnvDBUser, EnvDBPassword)
}

// Validate names the first missing or bad field.
func (c Credentials) Validate() error {
	switch {
	case c.Host == "" && c.Socket == "":
		return errors.New("host: missing")
	case c.Database == "":
		return errors.New("database: missing")
	case c.User == "":
		return errors.New("user: missing")
	}
	switch c.TLS {
	case "", "preferred", "true", "false", "skip-verify":
	default:
		return fmt.Errorf("tls %q: want preferred, true, skip-verify or false", c.TLS)
	}
	return nil
}

// String describes the target without the password.
func (c Credentials) String() string {
	where := c.Socket
	if where == "" {
		where = net.JoinHostPort(c.Host, strconv.Itoa(c.portOrDefault()))
	}
	return fmt.Sprintf("%s@%s/%s", c.User, where, c.Database)
}

func (c Credentials) portOrDefault() int {
	if c.Port == 0 {
		return 3306
	}
	return int(c.Port)
}

// DriverConfig is the go-sql-driver/mysql configuration: UTC datetimes parsed into time.Time,
// timeouts on dial, read and write, TLS when the server offers it unless told otherwise.
func (c Credentials) DriverConfig() *mysql.Config {
	m := mysql.NewConfig()
	m.User, m.Passwd, m.DBName = c.User, c.Password, c.Database
	if c.Socket != "" {
		m.Net, m.Addr = "unix", c.Socket
	} else {
		m.Net, m.Addr = "tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.portOrDefault()))
	}
	m.ParseTime, m.Loc = true, time.UTC
	m.Timeout, m.ReadTimeout, m.WriteTimeout = 10*time.Second, 30*time.Second, 30*time.Second
	m.TLSConfig = c.TLS
	if m.TLSConfig == "" {
		m.TLSConfig = "preferred"
	}
	return m
}

// OpenDB opens a connection pool to the database and checks that it answers.
func OpenDB(ctx context.Context, c Credentials) (*sql.DB, error) {
	conn, err := mysql.NewConnector(c.DriverConfig())
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", c, err)
	}
	db := sql.OpenDB(conn)
	ConfigurePool(db)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", c, err)
	}
	return db, nil
}

// ConfigurePool sizes a pool for the emulator: a few connections kept warm, recycled before a
// server or proxy idle timeout can cut them.
func ConfigurePool(db *sql.DB) {
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxLifetime(10 * time.Minute)
	db.SetConnMaxIdleTime(2 * time.Minute)
}

// Table definitions with the real source's types: DATETIME for datetimes, numbers as numbers,
// and the index columns as primary keys so that a row is found by an indexed lookup.
var createTables = []string{
	"CREATE TABLE IF NOT EXISTS pinterest_data (" +
		"`index` INT NOT NULL PRIMARY KEY, unique_id VARCHAR(36) NOT NULL, title TEXT NOT NULL, " +
		"description TEXT NOT NULL, poster_name VARCHAR(255) NOT NULL, follower_count VARCHAR(32) NOT NULL, " +
		"tag_list TEXT NOT NULL, is_image_or_video VARCHAR(64) NOT NULL, image_src TEXT NOT NULL, " +
		"downloaded INT NOT NULL, save_location VARCHAR(255) NOT NULL, category VARCHAR(64) NOT NULL" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	"CREATE TABLE IF NOT EXISTS geolocation_data (" +
		"ind INT NOT NULL PRIMARY KEY, `timestamp` DATETIME NOT NULL, latitude DOUBLE NOT NULL, " +
		"longitude DOUBLE NOT NULL, country VARCHAR(255) NOT NULL" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	"CREATE TABLE IF NOT EXISTS user_data (" +
		"ind INT NOT NULL PRIMARY KEY, first_name VARCHAR(255) NOT NULL, last_name VARCHAR(255) NOT NULL, " +
		"age INT NOT NULL, date_joined DATETIME NOT NULL" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
}

// columns lists each table's columns in the order of the record contract.
var columns = map[record.Kind][]string{
	record.Pin: {"`index`", "unique_id", "title", "description", "poster_name", "follower_count",
		"tag_list", "is_image_or_video", "image_src", "downloaded", "save_location", "category"},
	record.Geo:  {"ind", "`timestamp`", "latitude", "longitude", "country"},
	record.User: {"ind", "first_name", "last_name", "age", "date_joined"},
}

// rowValues appends the column values of row i of kind k, in columns order.
func rowValues(dst []any, d *Dataset, k record.Kind, i int) []any {
	switch k {
	case record.Pin:
		p := &d.Pins[i]
		return append(dst, p.Index, p.UniqueID, p.Title, p.Description, p.PosterName, p.FollowerCount,
			p.TagList, p.IsImageOrVideo, p.ImageSrc, p.Downloaded, p.SaveLocation, p.Category)
	case record.Geo:
		g := &d.Geos[i]
		return append(dst, g.Ind, g.Timestamp, g.Latitude, g.Longitude, g.Country)
	}
	u := &d.Users[i]
	return append(dst, u.Ind, u.FirstName, u.LastName, u.Age, u.DateJoined)
}

func rowIndex(d *Dataset, k record.Kind, i int) int {
	switch k {
	case record.Pin:
		return d.Pins[i].Index
	case record.Geo:
		return d.Geos[i].Ind
	}
	return d.Users[i].Ind
}

// DefaultSeedBatch is how many rows seed-db writes per INSERT.
const DefaultSeedBatch = 500

// SeedDB creates the three tables if needed and makes them hold exactly the dataset: rows are
// upserted in batches of batch rows, and rows whose index is not in the dataset are deleted, so
// running it twice leaves the same data. progress, when not nil, is called after each batch with
// the rows written so far and the total.
func SeedDB(ctx context.Context, db *sql.DB, d *Dataset, batch int, progress func(done, total int)) error {
	if batch <= 0 {
		batch = DefaultSeedBatch
	}
	batch = min(batch, 5000) // 12 placeholders a row stays far below MySQL's 65,535
	for _, q := range createTables {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create table: %w", err)
		}
	}
	// Tables made by someone else may lack the primary key that makes the upsert idempotent.
	for _, k := range record.Kinds {
		var n int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.STATISTICS "+
			"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' AND COLUMN_NAME = ?",
			k.Table(), k.IndexColumn()).Scan(&n)
		if err != nil {
			return fmt.Errorf("check %s: %w", k.Table(), err)
		}
		if n == 0 {
			return fmt.Errorf("table %s exists without a primary key on `%s`, so loading it twice would duplicate rows: add one (ALTER TABLE %s ADD PRIMARY KEY (`%s`)) or drop the table",
				k.Table(), k.IndexColumn(), k.Table(), k.IndexColumn())
		}
	}
	total, done := 3*d.Len(), 0
	for _, k := range record.Kinds {
		if err := seedTable(ctx, db, d, k, batch, func(n int) {
			done += n
			if progress != nil {
				progress(done, total)
			}
		}); err != nil {
			return fmt.Errorf("seed %s: %w", k.Table(), err)
		}
	}
	return nil
}

func seedTable(ctx context.Context, db *sql.DB, d *Dataset, k record.Kind, batch int, wrote func(int)) error {
	cols := columns[k]
	updates := make([]string, 0, len(cols)-1)
	for _, c := range cols[1:] {
		updates = append(updates, c+"=VALUES("+c+")")
	}
	rowPH := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	insert := func(n int) string {
		return "INSERT INTO " + k.Table() + " (" + strings.Join(cols, ",") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(rowPH+",", n), ",") +
			" ON DUPLICATE KEY UPDATE " + strings.Join(updates, ",")
	}
	args := make([]any, 0, batch*len(cols))
	minIdx, maxIdx := 0, -1
	for start := 0; start < d.Len(); start += batch {
		end := min(start+batch, d.Len())
		args = args[:0]
		for i := start; i < end; i++ {
			args = rowValues(args, d, k, i)
			idx := rowIndex(d, k, i)
			if maxIdx < minIdx {
				minIdx, maxIdx = idx, idx
			}
			minIdx, maxIdx = min(minIdx, idx), max(maxIdx, idx)
		}
		if _, err := db.ExecContext(ctx, insert(end-start), args...); err != nil {
			return fmt.Errorf("rows %d-%d: %w", start, end-1, err)
		}
		wrote(end - start)
	}
	// Rows outside the dataset's index range are left from an earlier, larger seed.
	idxCol := cols[0]
	if _, err := db.ExecContext(ctx, "DELETE FROM "+k.Table()+" WHERE "+idxCol+" < ? OR "+idxCol+" > ?", minIdx, maxIdx); err != nil {
		return fmt.Errorf("delete stale rows: %w", err)
	}
	return nil
}

// MySQL is the database source: it picks a random index and reads that row of the three tables
// in one indexed query over a connection pool (the original read each table with LIMIT n,1,
// which scans, over a new connection per row).
type MySQL struct {
	db       *sql.DB
	stmt     *sql.Stmt
	min, max int
	mu       sync.Mutex
	rng      *rand.Rand
	ownsDB   bool
}

// postQuery finds the first aligned post at or after a random index, through the primary keys.
const postQuery = "SELECT p.`index`, p.unique_id, p.title, p.description, p.poster_name, p.follower_count, " +
	"p.tag_list, p.is_image_or_video, p.image_src, p.downloaded, p.save_location, p.category, " +
	"g.ind, g.`timestamp`, g.latitude, g.longitude, g.country, " +
	"u.ind, u.first_name, u.last_name, u.age, u.date_joined " +
	"FROM pinterest_data p JOIN geolocation_data g ON g.ind = p.`index` JOIN user_data u ON u.ind = p.`index` " +
	"WHERE p.`index` >= ? ORDER BY p.`index` LIMIT 1"

// OpenMySQL opens the source database described by c.
func OpenMySQL(ctx context.Context, c Credentials, seed int64) (*MySQL, error) {
	db, err := OpenDB(ctx, c)
	if err != nil {
		return nil, err
	}
	m, err := NewMySQL(ctx, db, seed)
	if err != nil {
		db.Close()
		return nil, err
	}
	m.ownsDB = true
	return m, nil
}

// NewMySQL makes a source over an open pool (parseTime must be on). It reads the index range
// once; seed makes the sequence of picks repeatable.
func NewMySQL(ctx context.Context, db *sql.DB, seed int64) (*MySQL, error) {
	var lo, hi sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MIN(`index`), MAX(`index`) FROM pinterest_data").Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("mysql source: %w (run pinpipe seed-db to create the tables)", err)
	}
	if !lo.Valid {
		return nil, errors.New("mysql source: table pinterest_data is empty (run pinpipe seed-db)")
	}
	stmt, err := db.PrepareContext(ctx, postQuery)
	if err != nil {
		return nil, fmt.Errorf("mysql source: prepare: %w", err)
	}
	return &MySQL{db: db, stmt: stmt, min: int(lo.Int64), max: int(hi.Int64),
		rng: rand.New(rand.NewPCG(uint64(seed), 0x2545f491))}, nil
}

// Random reads the post at a random index (the next one present when the index has a gap). It
// is safe for concurrent use; a connection the server closed is replaced by the pool.
func (m *MySQL) Random(ctx context.Context) (record.Post, error) {
	m.mu.Lock()
	idx := m.min + m.rng.IntN(m.max-m.min+1)
	m.mu.Unlock()
	p, err := m.at(ctx, idx)
	if errors.Is(err, sql.ErrNoRows) && idx > m.min {
		p, err = m.at(ctx, m.min) // past the last aligned row: wrap around
	}
	if errors.Is(err, sql.ErrNoRows) {
		return p, errors.New("mysql source: no index has a row in all three tables")
	}
	return p, err
}

func (m *MySQL) at(ctx context.Context, idx int) (record.Post, error) {
	var c postColumns
	if err := m.stmt.QueryRowContext(ctx, idx).Scan(c.dest()...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return record.Post{}, err
		}
		return record.Post{}, fmt.Errorf("mysql source: read index %d: %w", idx, err)
	}
	return c.post()
}

// Close releases the prepared statement, and the pool when OpenMySQL opened it.
func (m *MySQL) Close() error {
	err := m.stmt.Close()
	if m.ownsDB {
		err = errors.Join(err, m.db.Close())
	}
	return err
}

// postColumns receives one row of postQuery. Every column is nullable here, so that a source
// table with NULLs (the real one had some) reads as empty values instead of failing.
type postColumns struct {
	pinIndex, downloaded                                      sql.NullInt64
	uniqueID, title, description, posterName, followerCount   sql.NullString
	tagList, isImageOrVideo, imageSrc, saveLocation, category sql.NullString
	geoInd                                                    sql.NullInt64
	timestamp                                                 sql.NullTime
	latitude, longitude                                       sql.NullFloat64
	country                                                   sql.NullString
	userInd, age                                              sql.NullInt64
	firstName, lastName                                       sql.NullString
	dateJoined                                                sql.NullTime
}

func (c *postColumns) dest() []any {
	return []any{&c.pinIndex, &c.uniqueID, &c.title, &c.description, &c.posterName, &c.followerCount,
		&c.tagList, &c.isImageOrVideo, &c.imageSrc, &c.downloaded, &c.saveLocation, &c.category,
		&c.geoInd, &c.timestamp, &c.latitude, &c.longitude, &c.country,
		&c.userInd, &c.firstName, &c.lastName, &c.age, &c.dateJoined}
}

// post turns the columns into a Post; the index columns must be present and agree.
func (c *postColumns) post() (record.Post, error) {
	if !c.pinIndex.Valid || !c.geoInd.Valid || !c.userInd.Valid {
		return record.Post{}, errors.New("mysql source: row without index")
	}
	if c.geoInd.Int64 != c.pinIndex.Int64 || c.userInd.Int64 != c.pinIndex.Int64 {
		return record.Post{}, fmt.Errorf("mysql source: indices disagree: pin %d, geo %d, user %d",
			c.pinIndex.Int64, c.geoInd.Int64, c.userInd.Int64)
	}
	var ts, joined string
	if c.timestamp.Valid {
		ts = record.FormatTime(c.timestamp.Time)
	}
	if c.dateJoined.Valid {
		joined = record.FormatTime(c.dateJoined.Time)
	}
	i := int(c.pinIndex.Int64)
	return record.Post{
		Pin: record.PinRow{
			Index: i, UniqueID: c.uniqueID.String, Title: c.title.String, Description: c.description.String,
			PosterName: c.posterName.String, FollowerCount: c.followerCount.String, TagList: c.tagList.String,
			IsImageOrVideo: c.isImageOrVideo.String, ImageSrc: c.imageSrc.String,
			Downloaded: int(c.downloaded.Int64), SaveLocation: c.saveLocation.String, Category: c.category.String,
		},
		Geo: record.GeoRow{Ind: i, Timestamp: ts, Latitude: c.latitude.Float64, Longitude: c.longitude.Float64,
			Country: c.country.String},
		User: record.UserRow{Ind: i, FirstName: c.firstName.String, LastName: c.lastName.String,
			Age: int(c.age.Int64), DateJoined: joined},
	}, nil
}
