package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azcred"
)

// OpenOptions tunes Open beyond what the settings say.
type OpenOptions struct {
	// Retry is passed to TableOptions.Retry.
	Retry policy.RetryOptions
	// Transport, if set, replaces the HTTP client of a Table store.
	Transport policy.Transporter
}

// Open resolves the backing store from the app settings, in PRODUCT.md §4's
// order: STATE_STORAGE (`memory`, `UseDevelopmentStorage=true` or a
// connection string); else the identity-based STATE_STORAGE__tableServiceUri
// / __accountName group; else AzureWebJobsStorage (a connection string or its
// __accountName / __tableServiceUri group); else the in-process Memory store,
// but only outside the Functions host (FUNCTIONS_WORKER_RUNTIME unset):
// scaled-out instances must not each keep private state.
//
// The returned string says what was chosen, without secrets, for the
// start-up log. Errors never contain a key or a connection string.
func Open(ctx context.Context, getenv func(string) string, opts OpenOptions) (Store, string, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	prefix := env("STATE_TABLE_PREFIX")
	if prefix == "" {
		prefix = DefaultTablePrefix
	}
	if err := ValidPrefix(prefix); err != nil {
		return nil, "", fmt.Errorf("store: STATE_TABLE_PREFIX: %w", err)
	}
	underHost := env("FUNCTIONS_WORKER_RUNTIME") != ""
	base := TableOptions{Prefix: prefix, Retry: opts.Retry, Transport: opts.Transport}

	if v := env("STATE_STORAGE"); v != "" {
		if strings.EqualFold(v, "memory") {
			return NewMemory(), "in-process memory (STATE_STORAGE=memory)", nil
		}
		return openConnString(ctx, base, "STATE_STORAGE", v)
	}
	if s, desc, ok, err := openIdentity(ctx, base, "STATE_STORAGE", env); ok || err != nil {
		return s, desc, err
	}
	if v := env("AzureWebJobsStorage"); v != "" {
		return openConnString(ctx, base, "AzureWebJobsStorage", v)
	}
	if s, desc, ok, err := openIdentity(ctx, base, "AzureWebJobsStorage", env); ok || err != nil {
		return s, desc, err
	}
	if underHost {
		return nil, "", errors.New("store: no state storage configured: set STATE_STORAGE (a storage connection string, " +
			"or UseDevelopmentStorage=true), STATE_STORAGE__accountName or STATE_STORAGE__tableServiceUri, or " +
			"AzureWebJobsStorage; STATE_STORAGE=memory must be set explicitly under the Functions host")
	}
	return NewMemory(), "in-process memory (no storage configured)", nil
}

// connFields parses a connection string's key=value pairs (keys folded to
// lower case).
func connFields(cs string) map[string]string {
	f := map[string]string{}
	for _, part := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			f[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return f
}

func openConnString(ctx context.Context, o TableOptions, setting, cs string) (Store, string, error) {
	var desc string
	if isDevStorage(cs) {
		desc = "table storage account devstoreaccount1 at 127.0.0.1:10002 (" + setting + "=UseDevelopmentStorage=true)"
	} else {
		f := connFields(cs)
		if f["accountname"] == "" && f["tableendpoint"] == "" {
			return nil, "", fmt.Errorf("store: %s is neither `memory`, `UseDevelopmentStorage=true` nor a storage connection string with AccountName or TableEndpoint", setting)
		}
		desc = "table storage account " + f["accountname"]
		if ep := f["tableendpoint"]; ep != "" {
			if u, err := url.Parse(ep); err == nil {
				desc += " at " + u.Host
			}
		}
		desc += " (" + setting + " connection string)"
	}
	o.ConnectionString = cs
	t, err := OpenTable(ctx, o)
	if err != nil {
		return nil, "", fmt.Errorf("store: %s: %w", setting, err)
	}
	return t, desc, nil
}

// openIdentity opens the identity-based group <prefix>__tableServiceUri /
// __accountName (+ __credential, __clientId). ok is false when the group is
// not set.
func openIdentity(ctx context.Context, o TableOptions, prefix string, env func(string) string) (Store, string, bool, error) {
	uri, account := env(prefix+"__tableServiceUri"), env(prefix+"__accountName")
	if uri == "" && account == "" {
		return nil, "", false, nil
	}
	if uri == "" {
		uri = "https://" + account + ".table.core.windows.net"
	}
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, "", true, fmt.Errorf("store: %s__tableServiceUri is not an http(s) URL", prefix)
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil // a SAS has no place here
	cred, how, err := azcred.New(env(prefix+"__clientId"), env(prefix+"__credential"))
	if err != nil {
		return nil, "", true, fmt.Errorf("store: %s identity (%s): %w", prefix, how, err)
	}
	o.ServiceURL, o.Credential = u.String(), cred
	t, err := OpenTable(ctx, o)
	if err != nil {
		return nil, "", true, fmt.Errorf("store: %s identity: %w", prefix, err)
	}
	return t, fmt.Sprintf("table storage %s (%s__*, %s)", u.Host, prefix, how), true, nil
}
