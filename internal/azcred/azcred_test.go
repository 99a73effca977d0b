package azcred

import (
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestChoice checks which credential each setting combination builds and
// how it is named in errors (no network: credentials are lazy).
func TestChoice(t *testing.T) {
	cases := []struct {
		clientID, kind string
		wantHow        string
		wantType       string
	}{
		{"11111111-2222-3333-4444-555555555555", "", "user-assigned managed identity 11111111-2222-3333-4444-555555555555", fmt.Sprintf("%T", &azidentity.ManagedIdentityCredential{})},
		{"", "ManagedIdentity", "system-assigned managed identity", fmt.Sprintf("%T", &azidentity.ManagedIdentityCredential{})},
		{"", "", "DefaultAzureCredential", fmt.Sprintf("%T", &azidentity.DefaultAzureCredential{})},
	}
	for _, tc := range cases {
		cred, how, err := New(tc.clientID, tc.kind)
		if err != nil {
			t.Fatalf("%q/%q: %v", tc.clientID, tc.kind, err)
		}
		if how != tc.wantHow || fmt.Sprintf("%T", cred) != tc.wantType {
			t.Errorf("%q/%q: %T %q; want %s %q", tc.clientID, tc.kind, cred, how, tc.wantType, tc.wantHow)
		}
	}
}
