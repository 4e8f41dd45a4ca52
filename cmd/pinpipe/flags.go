package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// newFlagSet returns a flag set for a subcommand whose --help prints the summary, the flags and
// their environment twins.
func newFlagSet(env *cliEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("pinpipe "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: pinpipe %s %s\n\nFlags (each also read from its environment twin):\n", name, synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(w, "  --%s  (%s)\n    \t%s", f.Name, envName(f.Name), f.Usage)
			if f.DefValue != "" {
				if _, isString := f.Value.(flag.Getter).Get().(string); isString {
					fmt.Fprintf(w, " (default %q)", f.DefValue)
				} else {
					fmt.Fprintf(w, " (default %s)", f.DefValue) // numbers, durations, booleans
				}
			}
			fmt.Fprintln(w)
		})
	}
	return fs
}

// envName is the environment twin of a flag: PINPIPE_ + upper case, '-' as '_'.
func envName(flagName string) string {
	return "PINPIPE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags applies environment twins for flags not given on the command line, then the command
// line itself. It returns errUsage after printing the problem, or flag.ErrHelp for --help.
func parseFlags(fs *flag.FlagSet, env *cliEnv, args []string) error {
	// The flag package's own error ("invalid value "5" for flag -duration: parse error") is
	// replaced by one that names the flag and the form it wants.
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return err
		}
		fmt.Fprintln(out, flagError(fs, err))
		fmt.Fprintf(out, "(%s --help lists every flag)\n", fs.Name())
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || bad != nil {
			return
		}
		if v := env.getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				bad = fmt.Errorf("%s=%q (the twin of --%s): %s", envName(f.Name), v, f.Name, wantForm(f))
			}
		}
	})
	if bad != nil {
		fmt.Fprintln(fs.Output(), bad)
		return errUsage
	}
	return nil
}

var (
	badValueRE = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): `)
	undefRE    = regexp.MustCompile(`^flag provided but not defined: -+(\S+)$`)
	noArgRE    = regexp.MustCompile(`^flag needs an argument: -+(\S+)$`)
)

// flagError rewrites a flag parse error so it names the flag and, for a bad value, the form
// wanted: "--duration 5: want a duration such as 5s or 10m".
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := badValueRE.FindStringSubmatch(msg); m != nil {
		if f := fs.Lookup(m[2]); f != nil {
			return fmt.Sprintf("--%s %s: %s", f.Name, m[1], wantForm(f))
		}
	}
	if m := undefRE.FindStringSubmatch(msg); m != nil {
		switch strings.ToLower(m[1]) {
		case "password", "api-key", "apikey", "key", "secret":
			return fmt.Sprintf("unknown flag --%s: secrets are never flags (they would show in ps and shell history); "+
				"the database password comes from --credentials FILE or PINPIPE_DB_PASSWORD, the API key from PINPIPE_API_KEY", m[1])
		}
		return fmt.Sprintf("unknown flag --%s", m[1])
	}
	if m := noArgRE.FindStringSubmatch(msg); m != nil {
		if f := fs.Lookup(m[1]); f != nil {
			return fmt.Sprintf("--%s needs a value: %s", f.Name, wantForm(f))
		}
	}
	return msg
}

// wantForm says what a flag's value looks like, from its type and default.
func wantForm(f *flag.Flag) string {
	switch f.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		return "want a duration such as 5s or 10m"
	case int, int64, uint, uint64:
		return "want a whole number such as " + exampleNumber(f.DefValue, "100")
	case float64:
		return "want a number such as " + exampleNumber(f.DefValue, "2.5")
	case bool:
		return "want true or false"
	}
	return "want " + f.Usage
}

func exampleNumber(def, fallback string) string {
	if def == "" || def == "0" {
		return fallback
	}
	return def
}

// noArgs rejects positional arguments for subcommands that take none.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
