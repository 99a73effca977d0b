package store

import (
	"fmt"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// Azure Table limits that Azurite does not enforce (local-components.md
// §1.5), checked in code so that what works locally works on Azure.
const (
	// blobPartSize is the most bytes one binary property holds: below the
	// service's 64 KiB (and the reported 64 000-byte) property limit.
	blobPartSize = 60000
	// maxBlobParts keeps an entity under 1 MiB: 12 × 60 000 bytes. Azure
	// counts binary properties by their size; Azurite by the request body,
	// where binary is base64 (4/3 larger): 960 000 bytes of it still fit.
	maxBlobParts = 12
	// MaxBlobSize is the largest Blob.Data either store accepts.
	MaxBlobSize = blobPartSize * maxBlobParts
	// maxProperties is Azure's limit of custom properties per entity.
	maxProperties = 252
	// maxBatch is the most operations in one entity-group transaction.
	maxBatch = 100
	// maxBatchBytes keeps a transaction's body under the 4 MiB limit
	// (binary data travels base64-encoded, hence the margin).
	maxBatchBytes = 2 << 20
)

// checkBlobs validates a PutBlobs argument the same way in both stores.
func checkBlobs(kind BlobKind, blobs []Blob) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	seen := make(map[string]bool, len(blobs))
	for _, b := range blobs {
		if b.Key == "" {
			return fmt.Errorf("store: put %s blobs: empty key", kind)
		}
		if seen[b.Key] {
			return fmt.Errorf("store: put %s blobs: key %q given twice", kind, b.Key)
		}
		seen[b.Key] = true
		if n := len(EncodeKey(b.Key)); n > maxKeyLen {
			return fmt.Errorf("store: put %s blob: key of %d bytes (encoded) exceeds %d", kind, n, maxKeyLen)
		}
		if len(b.Data) > MaxBlobSize {
			return fmt.Errorf("store: put %s blob %q: %d bytes exceeds the %d-byte entity limit", kind, b.Key, len(b.Data), MaxBlobSize)
		}
	}
	return nil
}

// checkKind accepts the blob kinds whose names can be part of a table name.
func checkKind(kind BlobKind) error {
	if kind == "" || strings.IndexFunc(string(kind), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		return fmt.Errorf("store: blob kind %q is not alphanumeric", kind)
	}
	return nil
}

func checkDiagnosis(d *classify.Diagnosis) error {
	if n := len(diagRowKey(d)); n > maxKeyLen {
		return fmt.Errorf("store: diagnosis of %s: key of %d bytes exceeds %d", d.Key, n, maxKeyLen)
	}
	return nil
}

// conflictErr reports the blobs whose ETag was stale.
func conflictErr(kind BlobKind, keys []string) error {
	if len(keys) > 5 {
		return fmt.Errorf("store: put %s blobs: %d stale ETags (%q …): %w", kind, len(keys), keys[:5], ErrConflict)
	}
	return fmt.Errorf("store: put %s blobs: stale ETag for %q: %w", kind, keys, ErrConflict)
}
