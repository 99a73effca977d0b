package store_test

import (
	"strings"
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

func TestOpen(t *testing.T) {
	const key = "c2VjcmV0LWtleS1kby1ub3QtbG9nLXRoaXMtYW55d2hlcmUtZXZlcg=="
	conn := "DefaultEndpointsProtocol=https;AccountName=prodstate;AccountKey=" + key + ";EndpointSuffix=core.windows.net"
	cases := []struct {
		name     string
		env      map[string]string
		table    bool   // a *store.Table, else *store.Memory
		desc     string // substring of the description
		errWants string // substring of the error; "" = no error
	}{
		{"nothing outside the host", map[string]string{}, false, "in-process memory (no storage configured)", ""},
		{"nothing under the host", map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom"}, false, "", "STATE_STORAGE=memory must be set explicitly"},
		{"memory explicit under the host", map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "STATE_STORAGE": "Memory"}, false, "STATE_STORAGE=memory", ""},
		{"development storage", map[string]string{"STATE_STORAGE": "UseDevelopmentStorage=true;"}, true, "devstoreaccount1 at 127.0.0.1:10002", ""},
		{"connection string", map[string]string{"STATE_STORAGE": conn}, true, "table storage account prodstate (STATE_STORAGE connection string)", ""},
		{"connection string with endpoint", map[string]string{"STATE_STORAGE": azurite.ConnStringFor("http://127.0.0.1:4567")}, true, "devstoreaccount1 at 127.0.0.1:4567", ""},
		{"not a connection string", map[string]string{"STATE_STORAGE": "sekrit-garbage"}, false, "", "STATE_STORAGE is neither"},
		{"bad account key", map[string]string{"STATE_STORAGE": "AccountName=x;AccountKey=not*base64*sekrit"}, false, "", "connection string is malformed"},
		{"identity account", map[string]string{"STATE_STORAGE__accountName": "prodstate"}, true, "prodstate.table.core.windows.net (STATE_STORAGE__*, DefaultAzureCredential)", ""},
		{"identity user-assigned", map[string]string{"STATE_STORAGE__tableServiceUri": "https://prodstate.table.core.windows.net/?sv=sekrit", "STATE_STORAGE__credential": "managedidentity", "STATE_STORAGE__clientId": "00000000-1111-2222-3333-444444444444"}, true, "user-assigned managed identity 00000000-1111", ""},
		{"identity system-assigned", map[string]string{"STATE_STORAGE__accountName": "prodstate", "STATE_STORAGE__credential": "managedidentity"}, true, "system-assigned managed identity", ""},
		{"identity bad uri", map[string]string{"STATE_STORAGE__tableServiceUri": "ftp://x"}, false, "", "not an http(s) URL"},
		{"AzureWebJobsStorage", map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "AzureWebJobsStorage": conn}, true, "(AzureWebJobsStorage connection string)", ""},
		{"AzureWebJobsStorage dev", map[string]string{"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, true, "AzureWebJobsStorage=UseDevelopmentStorage=true", ""},
		{"AzureWebJobsStorage identity", map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "AzureWebJobsStorage__accountName": "funcstore"}, true, "funcstore.table.core.windows.net (AzureWebJobsStorage__*", ""},
		{"STATE_STORAGE first", map[string]string{"STATE_STORAGE": "memory", "AzureWebJobsStorage": conn}, false, "STATE_STORAGE=memory", ""},
		{"identity before AzureWebJobsStorage", map[string]string{"STATE_STORAGE__accountName": "prodstate", "AzureWebJobsStorage": conn}, true, "prodstate.table.core.windows.net", ""},
		{"bad prefix", map[string]string{"STATE_TABLE_PREFIX": "9-bad"}, false, "", "STATE_TABLE_PREFIX"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, desc, err := store.Open(t.Context(), func(k string) string { return c.env[k] }, store.OpenOptions{})
			for _, text := range []string{desc, errText(err)} {
				for _, secret := range []string{key, "sekrit"} {
					if strings.Contains(text, secret) {
						t.Fatalf("secret leaked: %q", text)
					}
				}
			}
			if c.errWants != "" {
				if err == nil || !strings.Contains(err.Error(), c.errWants) {
					t.Fatalf("Open error = %v, want one containing %q", err, c.errWants)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if !strings.Contains(desc, c.desc) {
				t.Errorf("description %q, want it to contain %q", desc, c.desc)
			}
			_, isTable := s.(*store.Table)
			if isTable != c.table {
				t.Errorf("store is %T, want table=%v", s, c.table)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestOpenAzurite opens the store a connection string names and uses it.
func TestOpenAzurite(t *testing.T) {
	t.Parallel() // its own Azurite: runs beside the other Azurite tests
	srv := azurite.Start(t, azurite.Options{})
	env := map[string]string{"STATE_STORAGE": srv.ConnString(), "STATE_TABLE_PREFIX": srv.Prefix(), "FUNCTIONS_WORKER_RUNTIME": "custom"}
	s, desc, err := store.Open(t.Context(), func(k string) string { return env[k] }, store.OpenOptions{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if strings.Contains(desc, azurite.Key) || !strings.Contains(desc, srv.Addr()) {
		t.Errorf("description %q", desc)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := s.PutBlobs(t.Context(), store.MetaBlobs, []store.Blob{{Key: "k", Data: []byte("v")}}); err != nil {
		t.Fatalf("PutBlobs: %v", err)
	}
}
