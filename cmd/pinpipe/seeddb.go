package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/progress"
)

func runSeedDB(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "seed-db", "[--credentials FILE] [--rows N] [--seed S | --from DIR]\n\n"+
		"Creates pinterest_data, geolocation_data and user_data in a MySQL or MariaDB database and\n"+
		"loads the synthetic rows (or the JSONL files of `pinpipe generate` with --from). Running it\n"+
		"again leaves the same data. Credentials: --credentials FILE, else the PINPIPE_DB_HOST,\n"+
		"PINPIPE_DB_PORT, PINPIPE_DB_NAME, PINPIPE_DB_USER, PINPIPE_DB_PASSWORD variables, else\n"+
		"credentials_rds.yml in the working directory (keys host, port, database, user, password).")
	credFile := fs.String("credentials", "", "credentials file in the credentials_rds.yml format")
	rows := fs.Int("rows", emulator.DefaultRows, "rows per table of the synthetic dataset")
	seed := fs.Int64("seed", emulator.DefaultSeed, "seed of the synthetic dataset")
	data := fs.String("from", "", "load the JSONL files of this directory (written by pinpipe generate) instead of generating rows")
	batch := fs.Int("insert-rows", emulator.DefaultSeedBatch, "rows per INSERT statement")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	creds, from, err := emulator.FindCredentials(*credFile, env.getenv)
	if err != nil {
		return err
	}
	var d *emulator.Dataset
	what := fmt.Sprintf("synthetic rows, seed %d", *seed)
	if *data != "" {
		d, err = emulator.ReadFiles(*data)
		what = *data
	} else {
		d, err = emulator.Generate(*seed, *rows)
		if err != nil {
			err = errors.New("--" + err.Error())
		}
	}
	if err != nil {
		return err
	}
	db, err := emulator.OpenDB(ctx, creds)
	if err != nil {
		return fmt.Errorf("%w (credentials from %s)", err, from)
	}
	defer db.Close()

	start := time.Now()
	var done, total atomic.Int64
	line := progress.Start(env.stderr, 0, func() string {
		return fmt.Sprintf("seeding %s: %d/%d rows  ETA %s", creds, done.Load(), total.Load(),
			progress.FormatETA(progress.ETA(done.Load(), total.Load(), time.Since(start))))
	})
	err = emulator.SeedDB(ctx, db, d, *batch, func(n, t int) { done.Store(int64(n)); total.Store(int64(t)) })
	line.Stop()
	if err != nil {
		return fmt.Errorf("%s: %w", creds, err)
	}
	fmt.Fprintf(env.stdout, "seeded %s with %s per table (%s) in %s\n", creds, progress.Count(d.Len(), "row"), what,
		time.Since(start).Round(time.Millisecond))
	return nil
}
