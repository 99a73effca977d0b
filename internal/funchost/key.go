package funchost

import "context"

type keyCtx struct{}

// WithKey returns ctx carrying the function key an HTTP request was
// authorized with (its ?code= parameter), for the one use that needs it:
// pages whose links must carry the key so that following them works. The
// key is a secret: it never goes into a log line or an error.
func WithKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return context.WithValue(ctx, keyCtx{}, key)
}

// KeyFrom returns the function key WithKey stored, or "".
func KeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(keyCtx{}).(string)
	return k
}
