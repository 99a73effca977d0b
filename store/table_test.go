package store_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/store/storetest"
)

// openTable opens a Table with a fresh prefix on srv (or at conn).
func openTable(t testing.TB, conn, prefix string, retry policy.RetryOptions) *store.Table {
	t.Helper()
	s, err := store.OpenTable(t.Context(), store.TableOptions{ConnectionString: conn, Prefix: prefix, Retry: retry})
	if err != nil {
		t.Fatalf("OpenTable: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestTableConformance(t *testing.T) {
	t.Parallel() // its own Azurite: runs beside the other Azurite tests
	srv := azurite.Start(t, azurite.Options{})
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTable(t, srv.ConnString(), srv.Prefix(), policy.RetryOptions{})
	})
}
