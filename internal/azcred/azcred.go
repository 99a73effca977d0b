// Package azcred picks the azidentity credential for an identity-based
// connection, one rule for Table storage and the alert channels (SMTP
// XOAUTH2, Microsoft Graph): a client id selects that user-assigned managed
// identity; kind "managedidentity" the system-assigned one; otherwise
// DefaultAzureCredential (managed identity in Azure — AZURE_CLIENT_ID
// honoured — and the developer's az login on a workstation). It also names
// the identity in words, for errors that say whom to grant a permission.
package azcred

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// New returns the credential for clientID/kind and a description of it
// ("user-assigned managed identity <id>", "system-assigned managed
// identity", "DefaultAzureCredential"). Credentials are safe for
// concurrent use and cache their tokens: build one per connection at start.
func New(clientID, kind string) (azcore.TokenCredential, string, error) {
	var (
		cred azcore.TokenCredential
		err  error
		how  string
	)
	switch {
	case clientID != "":
		cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
		how = "user-assigned managed identity " + clientID
	case strings.EqualFold(kind, "managedidentity"):
		cred, err = azidentity.NewManagedIdentityCredential(nil)
		how = "system-assigned managed identity"
	default:
		cred, err = azidentity.NewDefaultAzureCredential(nil)
		how = "DefaultAzureCredential"
	}
	if err != nil {
		return nil, how, fmt.Errorf("azcred: %s: %w", how, err)
	}
	return cred, how, nil
}
