package files

import (
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	long := strings.Repeat("照", 300)
	cases := []struct{ in, ext, want string }{
		{"photo.jpg", ".jpg", "photo.jpg"},
		{`C:\Users\me\photo.jpg`, ".jpg", "photo.jpg"},
		{"../../etc/passwd", "", "passwd"},
		{"..", ".bin", "file.bin"},
		{"", ".png", "file.png"},
		{"  report.pdf  ", ".pdf", "report.pdf"},
		{"invoice\u202egpj.exe", "", "invoicegpj.exe"},
		{"tab\there\x00.txt", "", "tabhere.txt"},
		{long + ".jpeg", ".jpg", strings.Repeat("照", maxName-5) + ".jpeg"},
	}
	for _, c := range cases {
		if got := cleanName(c.in, c.ext); got != c.want {
			t.Errorf("cleanName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
