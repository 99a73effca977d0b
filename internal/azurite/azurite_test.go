package azurite_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
)

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func TestStartStopRestart(t *testing.T) {
	for _, disk := range []bool{false, true} {
		srv := azurite.Start(t, azurite.Options{Disk: disk})
		if !listening(srv.Addr()) {
			t.Fatalf("disk=%v: not listening on %s after Start", disk, srv.Addr())
		}
		if cs := srv.ConnString(); !strings.Contains(cs, "TableEndpoint=http://"+srv.Addr()+"/devstoreaccount1") {
			t.Errorf("ConnString = %q", cs)
		}
		if a, b := srv.Prefix(), srv.Prefix(); a == b {
			t.Errorf("Prefix repeated %q", a)
		}
		srv.Stop()
		if listening(srv.Addr()) {
			t.Fatalf("disk=%v: still listening after Stop", disk)
		}
		srv.Stop() // twice is harmless
		srv.Restart()
		if !listening(srv.Addr()) {
			t.Fatalf("disk=%v: not listening after Restart", disk)
		}
	}
}
