package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"parley/api"
	"parley/internal/testkit"
)

// BenchmarkMiddleware guards what every request pays in the middleware
// (recover, observe with its metric and its access line at info, deadlines,
// security headers, refuseNUL), in process and without a socket: GET
// /healthz through the server's handler. BenchmarkRequestPath has the rest.
func BenchmarkMiddleware(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	h := api.New(api.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry()})
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	b.ReportAllocs()
	cpu0 := testkit.CPUTime(b)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.ReportMetric(float64((testkit.CPUTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
