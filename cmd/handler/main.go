// Command handler is disconnect-doctor's single binary: the Azure Functions
// custom handler the host starts (`handler`, or `handler serve`), and the
// tools around it:
//
//	handler run       simulate a fleet through the real handlers (make run)
//	handler replay    classify exported resource logs offline
//	handler simulate  write a simulated fleet's bodies to files or an Event Hub
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/handlers"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

const usage = `usage: handler [command] [flags]

commands:
  serve      serve the Functions host (the default when no command is given)
  run        simulate a fleet through the real handlers and report (make run)
  replay     classify exported resource logs offline: handler replay [--json] FILE|DIR...
             or load them into the live state: handler replay --into STATE_STORAGE FILE|DIR...
  simulate   write a simulated fleet to files, or send it to an Event Hub
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := "serve", os.Args[1:]
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx)
	case "run":
		err = run(ctx, args, os.Stdout)
	case "replay":
		err = replay(ctx, args, os.Stdout)
	case "simulate":
		err = simulate(ctx, args, os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		err = fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the flag package printed the usage
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "handler:", err)
		os.Exit(1)
	}
}

// newLogger writes JSON lines: errors and worse to stderr (the host logs
// them as Error), the rest to stdout (Information).
func newLogger(out, errw io.Writer) zerolog.Logger {
	return zerolog.New(handlers.SplitWriter(out, errw)).With().Timestamp().Logger()
}

// serve is the custom handler proper: it listens on 127.0.0.1 at the port
// the host gives and serves the six functions until SIGTERM.
func serve(ctx context.Context) error {
	log := newLogger(os.Stdout, os.Stderr)
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	if cfg.Port == "" {
		return errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is not set: serve runs under the Functions host (try `handler run`)")
	}
	st, desc, err := store.Open(ctx, os.Getenv, store.OpenOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	channels, err := pipeline.Channels(cfg)
	if err != nil {
		return err
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: st, Channels: channels, Log: log, Instance: pipeline.InstanceName(os.Getenv),
		ReadSafety: cfg.ReadSafety})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(channels))
	for n := range channels {
		names = append(names, n)
	}
	log.Info().Str("store", desc).Strs("channels", names).Str("routes", cfg.Routes.String()).Str("watermark", cfg.Engine.Mode.String()).
		Str("port", cfg.Port).Msg("disconnect-doctor handler starting")
	h := handlers.New(p, log, handlers.Options{})
	return handlers.Serve(ctx, "127.0.0.1:"+cfg.Port, h, log)
}
