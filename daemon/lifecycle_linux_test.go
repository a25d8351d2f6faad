package daemon

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/api"
)

// The API's down makes Wait return; Close then leaves nothing behind.
// A down --leave on a router alone in its ring has nobody to hand its
// ranges to and stops all the same.
func TestDownThroughAPI(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatal(err)
	}
	for _, leave := range []bool{false, true} {
		c := testConfig(t)
		d, err := Start(c)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		waited := make(chan error, 1)
		go func() { waited <- d.Wait(ctx) }()
		resp, err := api.NewClient(c.API).Down(ctx, leave)
		if err != nil {
			cancel()
			d.Close()
			t.Fatalf("Down(leave=%v): %v", leave, err)
		}
		if resp.PID != os.Getpid() || resp.Heir != "" {
			t.Errorf("Down(leave=%v) = %+v, want this process and no heir", leave, resp)
		}
		if err := <-waited; err != nil {
			t.Errorf("Wait after Down: %v", err)
		}
		cancel()
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if left := leftovers(c); len(left) > 0 {
			t.Errorf("after down (leave=%v), left behind: %s", leave, strings.Join(left, "; "))
		}
	}
}
