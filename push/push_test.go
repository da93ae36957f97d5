package push

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckEndpoint(t *testing.T) {
	for _, c := range []struct {
		endpoint     string
		allowPrivate bool
		ok           bool
	}{
		{"https://8.8.8.8/push/1", false, true},
		{"https://[2606:4700:4700::1111]/push", false, true},
		{"http://8.8.8.8/push", false, false},
		{"https://127.0.0.1/push", false, false},
		{"https://10.1.2.3/push", false, false},
		{"https://172.16.0.1/push", false, false},
		{"https://192.168.1.1/push", false, false},
		{"https://169.254.169.254/latest", false, false},
		{"https://100.64.0.1/push", false, false},
		{"https://[::1]/push", false, false},
		{"https://[fd00::1]/push", false, false},
		{"https://[fe80::1]/push", false, false},
		{"https://[::ffff:127.0.0.1]/push", false, false},
		{"https://0.0.0.0/push", false, false},
		{"https://localhost/push", false, false},
		{"https://intranet/push", false, false},
		{"https://user:pw@8.8.8.8/push", false, false},
		{"ftp://8.8.8.8/push", false, false},
		{"/relative", false, false},
		{"", false, false},
		{"https://8.8.8.8/" + strings.Repeat("a", maxEndpointLen), false, false},
		{"http://127.0.0.1:8080/push", true, true},
		{"https://localhost/push", true, true},
		{"ftp://127.0.0.1/push", true, false},
	} {
		err := checkEndpoint(context.Background(), c.endpoint, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("checkEndpoint(%q, private=%v) = %v, want ok=%v", c.endpoint, c.allowPrivate, err, c.ok)
		}
	}
}

func TestVAPIDKeysAreKeptInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateKeys("", dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "vapid.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("vapid.key: %v, mode %v", err, info.Mode())
	}
	again, err := LoadOrCreateKeys("", dir)
	if err != nil || again != first || len(first.Public) != 87 {
		t.Fatalf("reloaded %+v, %v; first %+v", again, err, first)
	}
	configured, err := LoadOrCreateKeys(first.Private, t.TempDir())
	if err != nil || configured != first {
		t.Fatalf("configured key gives %+v, %v", configured, err)
	}
	if _, err := LoadOrCreateKeys("not-a-key", dir); err == nil {
		t.Error("a bad configured key is accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "vapid.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeys("", dir); err == nil {
		t.Error("a damaged key file is accepted")
	}
}

func TestPreviewIsOneShortLine(t *testing.T) {
	if got := preview("  hello\n\tworld  "); got != "hello world" {
		t.Errorf("preview = %q", got)
	}
	long := preview(strings.Repeat("é", 300))
	if n := len([]rune(long)); n != previewLen || !strings.HasSuffix(long, "…") {
		t.Errorf("a long preview has %d characters: %q", n, long)
	}
}
