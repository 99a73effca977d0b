package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// ShutdownGrace bounds how long Serve waits for in-flight invocations after
// its context ends. The host kills the process on its own schedule anyway;
// the bound keeps a stuck dependency from holding the process forever.
const ShutdownGrace = 30 * time.Second

// Serve listens on addr (the host calls http://127.0.0.1:<port>/) and serves
// h until ctx is done; then it stops accepting, lets in-flight invocations
// finish (at most ShutdownGrace) and returns nil. A listen failure or a
// server error is returned.
func Serve(ctx context.Context, addr string, h http.Handler, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("handlers: listen %s: %w", addr, err)
	}
	return serveListener(ctx, ln, h, log)
}

// serveListener is Serve on an open listener.
func serveListener(ctx context.Context, ln net.Listener, h http.Handler, log zerolog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No read/write timeout: an invocation may legitimately run up to
		// functionTimeout, and the host enforces that bound itself.
		ErrorLog: nil,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info().Str("addr", ln.Addr().String()).Msg("custom handler listening")
	select {
	case err := <-done:
		return fmt.Errorf("handlers: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-done
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("handlers: shutdown: %w", err)
	}
	log.Info().Msg("custom handler stopped")
	return nil
}

// SplitWriter returns a zerolog writer that sends error, fatal and panic
// lines to errw and everything else to out. The host logs a worker's stdout
// as Information and its stderr as Error (not tied to an invocation), so
// this is how an error outlives a 500 whose Logs the host drops.
func SplitWriter(out, errw io.Writer) zerolog.LevelWriter {
	return splitWriter{out: out, err: errw}
}

type splitWriter struct{ out, err io.Writer }

// Write sends an un-levelled line to out.
func (s splitWriter) Write(p []byte) (int, error) { return s.out.Write(p) }

// WriteLevel routes by level.
func (s splitWriter) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l >= zerolog.ErrorLevel && l <= zerolog.PanicLevel {
		return s.err.Write(p)
	}
	return s.out.Write(p)
}
