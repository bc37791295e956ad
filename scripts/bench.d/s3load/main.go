// s3load: a small, dependency-free S3 load generator used by scripts/bench.
//
// It signs every request with AWS SigV4 itself (payload hashes are computed
// before the timed window, so the client spends its CPU on HTTP, not hashing),
// measures one server process (CPU seconds from /proc/PID/stat, peak RSS from
// VmHWM after resetting it through /proc/PID/clear_refs, or by sampling VmRSS)
// and prints one JSON line per measured phase. Every failed request is counted
// and the first distinct failures are kept verbatim (method, path, status, body).
//
//	s3load SUBCOMMAND [flags]
//	  wait      poll ListBuckets until it succeeds
//	  mkbucket  create -bucket
//	  put       timed PUTs of new keys          (-size -c -duration -prefix)
//	  fill      untimed PUT of -objects keys    (-size -c -objects -prefix)
//	  get       timed GETs of filled keys       (-size -c -duration -objects -prefix)
//	  mixed     timed 45% GET, 30% HEAD, 15% PUT, 10% DELETE on filled keys
//	  big       one -size PUT then -biggets GETs of the same key
//	  listdel   fill -objects tiny keys, ListObjectsV2 scan (-page per page), DeleteObjects in -page batches
//	  startup   spawn a server (-- CMD ARGS, {PORT} {DIR} substituted) -reps times, time to first success
//
// A cluster: -endpoint takes several comma-separated URLs (each request goes to
// the next one, round-robin; wait waits for every one) and -pid several
// comma-separated PIDs (CPU seconds and peak RSS are summed over them).
//
// -sse s3 asks for SSE-S3 (x-amz-server-side-encryption: AES256) on every object
// PUT; -sse c sends SSE-C headers with one fixed key on every object PUT, GET and HEAD.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ---------------------------------------------------------------- flags

var (
	fEndpoint   = flag.String("endpoint", "http://127.0.0.1:9000", "server URL; several comma-separated: requests round-robin over them")
	fAK         = flag.String("ak", "", "access key")
	fSK         = flag.String("sk", "", "secret key")
	fRegion     = flag.String("region", "us-east-1", "region")
	fBucket     = flag.String("bucket", "bench", "bucket")
	fPID        = flag.String("pid", "", "server PID(s) to measure, comma-separated: CPU and RSS summed (empty or 0: none)")
	fServer     = flag.String("server", "", "server label for the output")
	fRep        = flag.Int("rep", 0, "repetition number for the output")
	fSize       = flag.Int64("size", 4096, "object size in bytes")
	fConc       = flag.Int("c", 1, "concurrency")
	fDur        = flag.Duration("duration", 5*time.Second, "timed window")
	fPrefix     = flag.String("prefix", "p", "key prefix")
	fBigGets    = flag.Int("biggets", 1, "big: GETs of the object after its PUT, back to back, measured as one (a single GET of a large object lasts a fraction of a second)")
	fObjects    = flag.Int("objects", 1000, "objects to fill / read")
	fPage       = flag.Int("page", 1000, "ListObjectsV2 max-keys and DeleteObjects batch size")
	fTimeout    = flag.Duration("timeout", 30*time.Second, "wait/startup timeout")
	fReps       = flag.Int("reps", 3, "startup repetitions")
	fMode       = flag.String("mode", "plain", "startup mode: plain | management")
	fWorkdir    = flag.String("workdir", os.TempDir(), "where startup makes its empty folders")
	fMaxErrs    = flag.Int("errsamples", 8, "distinct error samples kept")
	fSkipFill   = flag.Bool("skipfill", false, "listdel: the keys exist already (investigation)")
	fDelBudget  = flag.Duration("delbudget", 60*time.Second, "listdel: stop sending DeleteObjects batches after this long")
	fFillBudget = flag.Duration("fillbudget", 0, "fill/listdel: stop writing new keys after this long (0: no limit)")
	fListBudget = flag.Duration("listbudget", 300*time.Second, "listdel: stop the ListObjectsV2 scan after this long")
	fCACert     = flag.String("cacert", "", "https endpoints: trust exactly this PEM certificate")
	fSSE        = flag.String("sse", "", "server-side encryption: s3 (AES256 on PUTs) | c (SSE-C, one fixed key, on PUT/GET/HEAD)")
)

// ---------------------------------------------------------------- SigV4

type signer struct {
	ak, sk, region string
	mu             sync.Mutex
	day            string
	key            []byte
}

const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func hmacSHA(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

func uriEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (s *signer) signingKey(day string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.day != day {
		k := hmacSHA([]byte("AWS4"+s.sk), day)
		k = hmacSHA(k, s.region)
		k = hmacSHA(k, "s3")
		s.key = hmacSHA(k, "aws4_request")
		s.day = day
	}
	return s.key
}

func (s *signer) sign(req *http.Request, canonURI, canonQuery, payloadHash string) {
	amz := time.Now().UTC().Format("20060102T150405Z")
	day := amz[:8]
	req.Header.Set("x-amz-date", amz)
	req.Header.Set("x-amz-content-sha256", payloadHash)
	if s.ak == "" {
		return
	}
	names := []string{"host"}
	vals := map[string]string{"host": req.URL.Host}
	for k, v := range req.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") || lk == "content-md5" || lk == "content-type" {
			names = append(names, lk)
			vals[lk] = strings.TrimSpace(v[0])
		}
	}
	sort.Strings(names)
	var ch strings.Builder
	for _, n := range names {
		ch.WriteString(n + ":" + vals[n] + "\n")
	}
	signed := strings.Join(names, ";")
	cr := req.Method + "\n" + canonURI + "\n" + canonQuery + "\n" + ch.String() + "\n" + signed + "\n" + payloadHash
	crh := sha256.Sum256([]byte(cr))
	scope := day + "/" + s.region + "/s3/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amz + "\n" + scope + "\n" + hex.EncodeToString(crh[:])
	sig := hex.EncodeToString(hmacSHA(s.signingKey(day), sts))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.ak+"/"+scope+", SignedHeaders="+signed+", Signature="+sig)
}

// ---------------------------------------------------------------- client

type client struct {
	bases  []string // one per endpoint; requests take them in turn
	next   atomic.Uint64
	hc     *http.Client
	signer *signer
}

func newClient(conc int) *client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4 * (conc + 4),
		MaxIdleConnsPerHost:   4 * (conc + 4),
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 120 * time.Second,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	if *fCACert != "" {
		pem, err := os.ReadFile(*fCACert)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "cannot use -cacert", *fCACert, err)
			os.Exit(2)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tr.ForceAttemptHTTP2 = false // S3 clients speak HTTP/1.1, and so do the servers compared
	}
	var bases []string
	for _, e := range strings.Split(*fEndpoint, ",") {
		if e = strings.TrimSpace(e); e != "" {
			bases = append(bases, strings.TrimRight(e, "/"))
		}
	}
	return &client{
		bases:  bases,
		hc:     &http.Client{Transport: tr, Timeout: 10 * time.Minute},
		signer: &signer{ak: *fAK, sk: *fSK, region: *fRegion},
	}
}

type kv struct{ k, v string }

// sseC: the SSE-C headers of -sse c. The key is fixed (random-looking, derived from
// a constant) so that fill and the later get, separate runs, use the same one.
var sseC = func() map[string]string {
	key := sha256.Sum256([]byte("s3load SSE-C key"))
	sum := md5.Sum(key[:])
	return map[string]string{
		"x-amz-server-side-encryption-customer-algorithm": "AES256",
		"x-amz-server-side-encryption-customer-key":       base64.StdEncoding.EncodeToString(key[:]),
		"x-amz-server-side-encryption-customer-key-md5":   base64.StdEncoding.EncodeToString(sum[:]),
	}
}()

// do sends one signed request. body may be nil. The caller owns resp.Body.
func (c *client) do(method, bucket, key string, query []kv, body []byte, bodySHA string, hdr map[string]string) (*http.Response, string, error) {
	path := "/"
	if bucket != "" {
		path += bucket
		if key != "" {
			path += "/" + key
		}
	}
	canonURI := uriEncode(path, true)
	sort.Slice(query, func(i, j int) bool { return query[i].k < query[j].k })
	parts := make([]string, len(query))
	for i, q := range query {
		parts[i] = uriEncode(q.k, false) + "=" + uriEncode(q.v, false)
	}
	canonQuery := strings.Join(parts, "&")
	base := c.bases[0]
	if len(c.bases) > 1 {
		base = c.bases[(c.next.Add(1)-1)%uint64(len(c.bases))]
	}
	u := base + canonURI
	if canonQuery != "" {
		u += "?" + canonQuery
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, method + " " + canonURI, err
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if key != "" { // -sse: on object requests, signed like the others
		switch {
		case *fSSE == "s3" && method == "PUT":
			req.Header.Set("x-amz-server-side-encryption", "AES256")
		case *fSSE == "c" && (method == "PUT" || method == "GET" || method == "HEAD"):
			for k, v := range sseC {
				req.Header.Set(k, v)
			}
		}
	}
	if bodySHA == "" {
		bodySHA = emptySHA
	}
	c.signer.sign(req, canonURI, canonQuery, bodySHA)
	what := method + " " + canonURI
	if canonQuery != "" {
		what += "?" + canonQuery
	}
	if len(c.bases) > 1 {
		what += " @" + req.URL.Host
	}
	resp, err := c.hc.Do(req)
	return resp, what, err
}

// ---------------------------------------------------------------- errors

type errSink struct {
	mu      sync.Mutex
	count   int64
	seen    map[string]int
	samples []string
}

func newErrSink() *errSink { return &errSink{seen: map[string]int{}} }

func (e *errSink) add(class, detail string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	e.seen[class]++
	if e.seen[class] == 1 && len(e.samples) < *fMaxErrs {
		e.samples = append(e.samples, detail)
	}
}

// fromResp records a failed response; it reads (part of) the body.
func (e *errSink) fromResp(what string, resp *http.Response) {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	resp.Body.Close()
	code := ""
	if i := bytes.Index(b, []byte("<Code>")); i >= 0 {
		if j := bytes.Index(b[i:], []byte("</Code>")); j > 0 {
			code = string(b[i+6 : i+j])
		}
	}
	verb := strings.SplitN(what, " ", 2)[0]
	e.add(fmt.Sprintf("%s %d %s", verb, resp.StatusCode, code),
		fmt.Sprintf("%s -> HTTP %d x-amz-request-id=%q body=%q", what, resp.StatusCode, resp.Header.Get("x-amz-request-id"), strings.TrimSpace(string(b))))
}

func (e *errSink) fromErr(what string, err error) {
	verb := strings.SplitN(what, " ", 2)[0]
	class := err.Error()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		class = "timeout"
	} else if strings.Contains(class, "connection refused") {
		class = "connection refused"
	} else if strings.Contains(class, "reset by peer") {
		class = "connection reset"
	} else if strings.Contains(class, "EOF") {
		class = "EOF"
	}
	e.add(verb+" "+class, fmt.Sprintf("%s -> transport error: %v", what, err))
}

// ---------------------------------------------------------------- process monitor

type procMon struct {
	pids    []int
	cpu0    float64
	hwm     bool
	stop    chan struct{}
	done    chan struct{}
	sampled int64
	t0      time.Time
	self0   float64
	busy0   float64
	load1   float64
}

func readCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100.0 // USER_HZ is 100 on Linux
}

func readStatusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

// hostCPU returns busy and total jiffies of the whole machine.
func hostCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	f := strings.Fields(line)
	for i, x := range f[1:] {
		v, _ := strconv.ParseFloat(x, 64)
		if i >= 8 { // guest time is already inside user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// pidList parses -pid: comma-separated PIDs, 0 and empty left out.
func pidList(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// cpuSum is the CPU seconds of all pids, -1 when one is gone.
func cpuSum(pids []int) float64 {
	t := 0.0
	for _, p := range pids {
		v := readCPU(p)
		if v < 0 {
			return -1
		}
		t += v
	}
	return t
}

func startMon(pidArg string) *procMon {
	pids := pidList(pidArg)
	m := &procMon{pids: pids, stop: make(chan struct{}), done: make(chan struct{})}
	m.t0 = time.Now()
	m.self0 = readCPU(os.Getpid())
	m.busy0, _ = hostCPU()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.load1, _ = strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	}
	if len(pids) == 0 {
		close(m.done)
		return m
	}
	m.hwm = true
	for _, pid := range pids {
		m.hwm = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil && m.hwm
	}
	m.cpu0 = cpuSum(pids)
	go func() {
		defer close(m.done)
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			var v int64
			for _, pid := range pids {
				v += readStatusKiB(pid, "VmRSS")
			}
			if v > atomic.LoadInt64(&m.sampled) {
				atomic.StoreInt64(&m.sampled, v)
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *procMon) finish(r *result) {
	if m == nil {
		return
	}
	el := time.Since(m.t0).Seconds()
	busy1, _ := hostCPU()
	r.Load1 = m.load1
	r.HostBusyCores = (busy1 - m.busy0) / 100 / el
	r.ClientCores = (readCPU(os.Getpid()) - m.self0) / el
	if len(m.pids) == 0 {
		return
	}
	close(m.stop)
	<-m.done
	c1 := cpuSum(m.pids)
	if c1 < 0 || m.cpu0 < 0 {
		r.ServerGone = true
		return
	}
	r.CPUSec = c1 - m.cpu0
	r.OtherCores = r.HostBusyCores - r.ClientCores - r.CPUSec/el
	peak := atomic.LoadInt64(&m.sampled)
	r.RSSMethod = "sampled VmRSS"
	if m.hwm {
		// several processes: the sum of their peaks (an upper bound of the peak of the sum)
		var h int64
		for _, pid := range m.pids {
			h += readStatusKiB(pid, "VmHWM")
		}
		if h > 0 {
			r.RSSMethod = "VmHWM (reset via clear_refs)"
			if h > peak {
				peak = h
			}
		}
	}
	r.PeakRSSKiB = peak
	moved := float64(r.Bytes) / (1 << 30)
	if moved > 0 {
		r.CPUPerGiB = r.CPUSec / moved
	}
}

// ---------------------------------------------------------------- results

type result struct {
	Server        string             `json:"server"`
	Rep           int                `json:"rep"`
	Op            string             `json:"op"`
	Size          int64              `json:"size"`
	Conc          int                `json:"conc"`
	Seconds       float64            `json:"seconds"`
	Ops           int64              `json:"ops"`
	Bytes         int64              `json:"bytes"`
	OpsPerSec     float64            `json:"ops_per_s"`
	MiBPerSec     float64            `json:"mib_per_s"`
	P50ms         float64            `json:"p50_ms"`
	P99ms         float64            `json:"p99_ms"`
	Errors        int64              `json:"errors"`
	ErrSamples    []string           `json:"error_samples,omitempty"`
	CPUSec        float64            `json:"cpu_s"`
	CPUPerGiB     float64            `json:"cpu_s_per_gib"`
	PeakRSSKiB    int64              `json:"peak_rss_kib"`
	RSSMethod     string             `json:"rss_method,omitempty"`
	ServerGone    bool               `json:"server_gone,omitempty"`
	Load1         float64            `json:"load1"`
	HostBusyCores float64            `json:"host_busy_cores"`
	ClientCores   float64            `json:"client_cores"`
	OtherCores    float64            `json:"other_cores"`
	Extra         map[string]float64 `json:"extra,omitempty"`
}

func emit(r *result) {
	r.Server, r.Rep = *fServer, *fRep
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Ops) / r.Seconds
		r.MiBPerSec = float64(r.Bytes) / (1 << 20) / r.Seconds
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func pct(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	i := int(p * float64(len(lat)-1))
	return float64(lat[i].Microseconds()) / 1000
}

// ---------------------------------------------------------------- payloads

type payload struct {
	data []byte
	sha  string
}

func makePayloads(size int64, n int) []payload {
	out := make([]payload, n)
	for i := range out {
		b := make([]byte, size)
		rand.Read(b)
		h := sha256.Sum256(b)
		out[i] = payload{b, hex.EncodeToString(h[:])}
	}
	return out
}

func payloadCount(size int64) int {
	switch {
	case size <= 64<<10:
		return 64
	case size <= 4<<20:
		return 8
	default:
		return 1
	}
}

func objKey(prefix string, i int) string { return fmt.Sprintf("%s/%08d", prefix, i) }

// ---------------------------------------------------------------- timed runner

type opFn func(w int, rng *mrand.Rand) (bytes int64, ok bool)

func runTimed(name string, conc int, dur time.Duration, errs *errSink, fn opFn) *result {
	type wstat struct {
		ops, bytes int64
		lat        []time.Duration
	}
	stats := make([]wstat, conc)
	mon := startMon(*fPID)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w)+1, uint64(time.Now().UnixNano())))
			st := &stats[w]
			for time.Now().Before(deadline) {
				t0 := time.Now()
				b, ok := fn(w, rng)
				if ok { // ops, bytes and latencies count successful operations; failures are counted in errors
					st.lat = append(st.lat, time.Since(t0))
					st.ops++
					st.bytes += b
				} else {
					time.Sleep(time.Millisecond) // never spin on a dead server
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := &result{Op: name, Size: *fSize, Conc: conc, Seconds: elapsed.Seconds()}
	var lat []time.Duration
	for _, s := range stats {
		r.Ops += s.ops
		r.Bytes += s.bytes
		lat = append(lat, s.lat...)
	}
	mon.finish(r)
	r.P50ms, r.P99ms = pct(lat, 0.50), pct(lat, 0.99)
	r.Errors, r.ErrSamples = errs.count, errs.samples
	return r
}

// ---------------------------------------------------------------- operations

// drainBuffers are the GET bodies' read buffers. io.Copy to io.Discard reads 8 KiB at a
// time, and that many reads made this client the limit of a large GET for every server
// (256 MiB: 3.5-3.8 GiB/s for smartstorage and Versity alike, 4.4-5.8 with 1 MiB reads).
// Clients that fetch large objects read far more than 8 KiB at a time.
var drainBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// drain reads r to its end into nothing and returns how many bytes it had.
func drain(r io.Reader) (int64, error) {
	bp := drainBuffers.Get().(*[]byte)
	defer drainBuffers.Put(bp)
	var n int64
	for {
		m, err := r.Read(*bp)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (c *client) put(key string, p payload, errs *errSink) bool {
	resp, what, err := c.do("PUT", *fBucket, key, nil, p.data, p.sha, nil)
	if err != nil {
		errs.fromErr(what, err)
		return false
	}
	if resp.StatusCode != 200 {
		errs.fromResp(what, resp)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

func (c *client) get(key string, want int64, errs *errSink) (int64, bool) {
	resp, what, err := c.do("GET", *fBucket, key, nil, nil, "", nil)
	if err != nil {
		errs.fromErr(what, err)
		return 0, false
	}
	if resp.StatusCode != 200 {
		errs.fromResp(what, resp)
		return 0, false
	}
	n, err := drain(resp.Body)
	resp.Body.Close()
	if err != nil {
		errs.fromErr(what+" (reading body)", err)
		return n, false
	}
	if want >= 0 && n != want {
		errs.add("GET short body", fmt.Sprintf("%s -> HTTP 200 but body has %d bytes, want %d", what, n, want))
		return n, false
	}
	return n, true
}

func (c *client) simple(method, key string, want int, errs *errSink) bool {
	resp, what, err := c.do(method, *fBucket, key, nil, nil, "", nil)
	if err != nil {
		errs.fromErr(what, err)
		return false
	}
	if resp.StatusCode != want {
		errs.fromResp(what, resp)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

// fill PUTs keys [0,n) with concurrency conc and returns the result of that phase.
func fill(c *client, prefix string, n, conc int, size int64, measure bool) *result {
	pl := makePayloads(size, payloadCount(size))
	errs := newErrSink()
	var next int64 = -1
	var ok int64
	var mon *procMon
	if measure {
		mon = startMon(*fPID)
	}
	start := time.Now()
	var wg sync.WaitGroup
	lats := make([][]time.Duration, conc)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				if *fFillBudget > 0 && time.Since(start) > *fFillBudget {
					return
				}
				i := int(atomic.AddInt64(&next, 1))
				if i >= n {
					return
				}
				t0 := time.Now()
				// a retry or two: fill is setup, not the measurement (errors are still reported)
				for try := 0; try < 3; try++ {
					if c.put(objKey(prefix, i), pl[i%len(pl)], errs) {
						atomic.AddInt64(&ok, 1)
						break
					}
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	r := &result{Op: "fill", Size: size, Conc: conc, Seconds: time.Since(start).Seconds(), Ops: ok, Bytes: ok * size}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	r.P50ms, r.P99ms = pct(all, 0.5), pct(all, 0.99)
	mon.finish(r)
	r.Errors, r.ErrSamples = errs.count, errs.samples
	return r
}

func cmdPut(c *client) {
	pl := makePayloads(*fSize, payloadCount(*fSize))
	errs := newErrSink()
	counters := make([]int, *fConc)
	r := runTimed("put", *fConc, *fDur, errs, func(w int, rng *mrand.Rand) (int64, bool) {
		counters[w]++
		key := fmt.Sprintf("%s/w%03d/%08d", *fPrefix, w, counters[w])
		if c.put(key, pl[rng.IntN(len(pl))], errs) {
			return *fSize, true
		}
		return 0, false
	})
	emit(r)
}

func cmdGet(c *client) {
	errs := newErrSink()
	r := runTimed("get", *fConc, *fDur, errs, func(w int, rng *mrand.Rand) (int64, bool) {
		return c.get(objKey(*fPrefix, rng.IntN(*fObjects)), *fSize, errs)
	})
	emit(r)
}

type pool struct {
	mu       sync.Mutex
	keys     []string
	pos      map[string]int
	inflight map[string]int
}

func (p *pool) add(k string) {
	p.mu.Lock()
	p.pos[k] = len(p.keys)
	p.keys = append(p.keys, k)
	p.mu.Unlock()
}

func (p *pool) acquire(rng *mrand.Rand) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		return "", false
	}
	k := p.keys[rng.IntN(len(p.keys))]
	p.inflight[k]++
	return k, true
}

func (p *pool) release(k string) {
	p.mu.Lock()
	p.inflight[k]--
	p.mu.Unlock()
}

// takeForDelete removes a key nobody is reading from the pool.
func (p *pool) takeForDelete(rng *mrand.Rand) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for try := 0; try < 16 && len(p.keys) > 0; try++ {
		i := rng.IntN(len(p.keys))
		k := p.keys[i]
		if p.inflight[k] > 0 {
			continue
		}
		last := p.keys[len(p.keys)-1]
		p.keys[i] = last
		p.pos[last] = i
		p.keys = p.keys[:len(p.keys)-1]
		delete(p.pos, k)
		return k, true
	}
	return "", false
}

func cmdMixed(c *client) {
	pl := makePayloads(*fSize, payloadCount(*fSize))
	errs := newErrSink()
	p := &pool{pos: map[string]int{}, inflight: map[string]int{}}
	for i := 0; i < *fObjects; i++ {
		p.add(objKey(*fPrefix, i))
	}
	var counts [4]int64
	counters := make([]int, *fConc)
	stamp := time.Now().UnixNano()
	r := runTimed("mixed", *fConc, *fDur, errs, func(w int, rng *mrand.Rand) (int64, bool) {
		x := rng.IntN(100)
		switch {
		case x < 45: // GET
			atomic.AddInt64(&counts[0], 1)
			k, ok := p.acquire(rng)
			if !ok {
				return 0, true
			}
			defer p.release(k)
			return c.get(k, *fSize, errs)
		case x < 75: // HEAD
			atomic.AddInt64(&counts[1], 1)
			k, ok := p.acquire(rng)
			if !ok {
				return 0, true
			}
			defer p.release(k)
			return 0, c.simple("HEAD", k, 200, errs)
		case x < 90: // PUT
			atomic.AddInt64(&counts[2], 1)
			counters[w]++
			k := fmt.Sprintf("%s/new/%d/w%03d/%08d", *fPrefix, stamp, w, counters[w])
			if c.put(k, pl[rng.IntN(len(pl))], errs) {
				p.add(k)
				return *fSize, true
			}
			return 0, false
		default: // DELETE
			atomic.AddInt64(&counts[3], 1)
			k, ok := p.takeForDelete(rng)
			if !ok {
				return 0, true
			}
			return 0, c.simple("DELETE", k, 204, errs)
		}
	})
	r.Extra = map[string]float64{"get": float64(counts[0]), "head": float64(counts[1]), "put": float64(counts[2]), "delete": float64(counts[3])}
	emit(r)
	// Put back the original keys that were deleted so the next run starts from the same set.
	var missing []int
	for i := 0; i < *fObjects; i++ {
		if _, ok := p.pos[objKey(*fPrefix, i)]; !ok {
			missing = append(missing, i)
		}
	}
	repairErrs := newErrSink()
	var wg sync.WaitGroup
	ch := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				c.put(objKey(*fPrefix, i), pl[i%len(pl)], repairErrs)
			}
		}()
	}
	for _, i := range missing {
		ch <- i
	}
	close(ch)
	wg.Wait()
	if repairErrs.count > 0 {
		fmt.Fprintf(os.Stderr, "mixed: %d errors while restoring deleted keys: %v\n", repairErrs.count, repairErrs.samples)
	}
}

func cmdBig(c *client) {
	pl := makePayloads(*fSize, 1)[0]
	key := fmt.Sprintf("%s/%d", *fPrefix, time.Now().UnixNano())
	for _, op := range []string{"bigput", "bigget"} {
		errs := newErrSink()
		mon := startMon(*fPID)
		t0 := time.Now()
		var n int64
		var ok bool
		if op == "bigput" {
			ok = c.put(key, pl, errs)
			if ok {
				n = *fSize
			}
		} else {
			ok = true
			for i := 0; i < *fBigGets && ok; i++ {
				var got int64
				got, ok = c.get(key, *fSize, errs)
				n += got
			}
		}
		el := time.Since(t0)
		reads := 1
		if op == "bigget" {
			reads = *fBigGets
		}
		each := float64(el.Microseconds()) / 1000 / float64(reads)
		r := &result{Op: op, Size: *fSize, Conc: 1, Seconds: el.Seconds(), Bytes: n, P50ms: each, P99ms: each}
		if ok {
			r.Ops = int64(reads)
		}
		mon.finish(r)
		r.Errors, r.ErrSamples = errs.count, errs.samples
		emit(r)
	}
	c.simple("DELETE", key, 204, newErrSink())
}

type listResult struct {
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
	KeyCount              int    `xml:"KeyCount"`
	Contents              []struct {
		Key string `xml:"Key"`
	} `xml:"Contents"`
}

// scan lists prefix/ completely; it returns the keys, per-page latencies and any error text.
func (c *client) scan(prefix string, page int, errs *errSink, budget time.Duration) ([]string, []time.Duration, bool) {
	var keys []string
	began := time.Now()
	var lat []time.Duration
	token := ""
	for pages := 0; pages < 100000; pages++ {
		q := []kv{{"list-type", "2"}, {"max-keys", strconv.Itoa(page)}, {"prefix", prefix + "/"}}
		if token != "" {
			q = append(q, kv{"continuation-token", token})
		}
		t0 := time.Now()
		resp, what, err := c.do("GET", *fBucket, "", q, nil, "", nil)
		if err != nil {
			errs.fromErr(what, err)
			return keys, lat, false
		}
		if resp.StatusCode != 200 {
			errs.fromResp(what, resp)
			return keys, lat, false
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if err != nil {
			errs.fromErr(what, err)
			return keys, lat, false
		}
		var lr listResult
		if err := xml.Unmarshal(body, &lr); err != nil {
			errs.add("LIST bad xml", fmt.Sprintf("%s -> unparseable XML: %v: %.300q", what, err, body))
			return keys, lat, false
		}
		if len(lr.Contents) > page {
			errs.add("LIST page too large", fmt.Sprintf("%s -> %d keys for max-keys=%d", what, len(lr.Contents), page))
		}
		for _, k := range lr.Contents {
			keys = append(keys, k.Key)
		}
		if !lr.IsTruncated {
			return keys, lat, true
		}
		if lr.NextContinuationToken == "" {
			errs.add("LIST no token", fmt.Sprintf("%s -> IsTruncated=true without NextContinuationToken", what))
			return keys, lat, false
		}
		token = lr.NextContinuationToken
		if time.Since(began) > budget {
			return keys, lat, false
		}
	}
	return keys, lat, false
}

// cmdRm deletes every key under -prefix: cleanup between phases, not measured.
func cmdRm(c *client) {
	errs := newErrSink()
	keys, _, _ := c.scan(*fPrefix, 1000, errs, 120*time.Second)
	for _, k := range keys {
		c.simple("DELETE", k, 204, errs)
	}
	if errs.count > 0 {
		fmt.Fprintln(os.Stderr, "rm:", errs.samples)
		os.Exit(1)
	}
}

func cmdListDel(c *client) {
	n := *fObjects
	*fSize = 16
	if !*fSkipFill {
		fr := fill(c, *fPrefix, n, *fConc, 16, true)
		fr.Op = "listfill"
		if fr.Ops < int64(n) && fr.Errors == 0 {
			fmt.Fprintf(os.Stderr, "listdel: fill stopped by its %s budget after %d of %d keys\n", *fFillBudget, fr.Ops, n)
			n = int(fr.Ops)
		}
		emit(fr)
	}
	// The fill's files reach the disk before the scan and the deletes, as the bench syncs
	// between phases: a server that does not fsync would otherwise delete files that never
	// left the page cache (ext4 frees their blocks unallocated), 6x cheaper than written ones.
	syscall.Sync()

	// ListObjectsV2 full scan, page by page.
	errs := newErrSink()
	mon := startMon(*fPID)
	t0 := time.Now()
	keys, lat, complete := c.scan(*fPrefix, *fPage, errs, *fListBudget)
	el := time.Since(t0)
	if !complete && errs.count == 0 {
		fmt.Fprintf(os.Stderr, "listdel: scan stopped after the %s budget (%d keys listed)\n", *fListBudget, len(keys))
	} else if len(keys) != n {
		errs.add("LIST wrong count", fmt.Sprintf("ListObjectsV2 scan of %s/ returned %d keys, %d were written", *fPrefix, len(keys), n))
	}
	for i := 1; i < len(keys); i++ {
		if keys[i] <= keys[i-1] {
			errs.add("LIST order", fmt.Sprintf("ListObjectsV2 keys out of order or duplicated: %q then %q", keys[i-1], keys[i]))
			break
		}
	}
	lr := &result{Op: "list", Size: 16, Conc: 1, Seconds: el.Seconds(), Ops: int64(len(lat))}
	lr.P50ms, lr.P99ms = pct(lat, 0.5), pct(lat, 0.99)
	mon.finish(lr)
	lr.Errors, lr.ErrSamples = errs.count, errs.samples
	lr.Extra = map[string]float64{"written": float64(n), "keys": float64(len(keys)), "pages": float64(len(lat)), "scan_ms": float64(el.Microseconds()) / 1000}
	emit(lr)

	// DeleteObjects in batches of -page keys (quiet mode), then check nothing is left.
	errs = newErrSink()
	mon = startMon(*fPID)
	var blat []time.Duration
	t0 = time.Now()
	var deleted int64
	budgetHit := 0.0
	for start := 0; start < n; start += *fPage {
		if time.Since(t0) > *fDelBudget {
			budgetHit = 1
			break
		}
		end := start + *fPage
		if end > n {
			end = n
		}
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>`)
		for i := start; i < end; i++ {
			b.WriteString("<Object><Key>" + objKey(*fPrefix, i) + "</Key></Object>")
		}
		b.WriteString("</Delete>")
		body := b.Bytes()
		sum := md5.Sum(body)
		sh := sha256.Sum256(body)
		bt := time.Now()
		resp, what, err := c.do("POST", *fBucket, "", []kv{{"delete", ""}}, body, hex.EncodeToString(sh[:]),
			map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:]), "Content-Type": "application/xml"})
		if err != nil {
			errs.fromErr(what, err)
			continue
		}
		if resp.StatusCode != 200 {
			errs.fromResp(what, resp)
			continue
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		blat = append(blat, time.Since(bt))
		if nerr := bytes.Count(rb, []byte("<Error>")); nerr > 0 {
			errs.add("DeleteObjects per-key errors", fmt.Sprintf("%s -> %d <Error> entries: %.400q", what, nerr, rb))
			deleted += int64(end - start - nerr)
		} else {
			deleted += int64(end - start)
		}
	}
	el = time.Since(t0)
	dr := &result{Op: "delete", Size: 16, Conc: 1, Seconds: el.Seconds(), Ops: deleted}
	dr.P50ms, dr.P99ms = pct(blat, 0.5), pct(blat, 0.99)
	mon.finish(dr)
	// Check (untimed) that the deleted keys are gone.
	left, _, scanned := c.scan(*fPrefix, 1000, errs, 120*time.Second)
	leftN := float64(len(left))
	if !scanned {
		leftN = -1
	} else if len(left) != 0 && budgetHit == 0 {
		errs.add("DeleteObjects left keys", fmt.Sprintf("after DeleteObjects %d keys under %s/ are still listed (e.g. %q)", len(left), *fPrefix, left[0]))
	}
	dr.Errors, dr.ErrSamples = errs.count, errs.samples
	dr.Extra = map[string]float64{"batches": float64(len(blat)), "keys_per_s": float64(deleted) / el.Seconds(), "left": leftN, "budget_hit": budgetHit}
	emit(dr)
}

// ---------------------------------------------------------------- wait / mkbucket

func (c *client) listBucketsOK() (bool, string) {
	resp, what, err := c.do("GET", "", "", nil, nil, "", nil)
	if err != nil {
		return false, what + ": " + err.Error()
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode == 200 {
		return true, ""
	}
	return false, fmt.Sprintf("%s -> HTTP %d %s", what, resp.StatusCode, b)
}

func waitUp(c *client, timeout time.Duration) (time.Duration, bool, string) {
	t0 := time.Now()
	last := ""
	for time.Since(t0) < timeout {
		ok, msg := c.listBucketsOK()
		if ok {
			return time.Since(t0), true, ""
		}
		last = msg
		time.Sleep(500 * time.Microsecond)
	}
	return time.Since(t0), false, last
}

func cmdWait(c *client) {
	c.hc.Timeout = 2 * time.Second
	all := c.bases
	for _, b := range all { // every endpoint must answer
		c.bases = []string{b}
		if _, ok, last := waitUp(c, *fTimeout); !ok {
			fmt.Fprintf(os.Stderr, "s3load wait: no successful ListBuckets at %s within %s; last: %s\n", b, *fTimeout, last)
			os.Exit(1)
		}
	}
	c.bases = all
}

func cmdMkBucket(c *client) {
	resp, what, err := c.do("PUT", *fBucket, "", nil, nil, "", nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 && !bytes.Contains(b, []byte("BucketAlreadyOwnedByYou")) {
		fmt.Fprintf(os.Stderr, "%s -> HTTP %d %s\n", what, resp.StatusCode, b)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- startup

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func findPort(v any) int {
	switch t := v.(type) {
	case map[string]any:
		if p, ok := t["port"].(float64); ok {
			return int(p)
		}
		for _, x := range t {
			if p := findPort(x); p > 0 {
				return p
			}
		}
	}
	return 0
}

func stopProc(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func cmdStartup(args []string) {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "startup: give the server command after --")
		os.Exit(2)
	}
	var firstMS, readyMS, startedMS []float64
	failures := 0
	var lastErr string
	for rep := 0; rep < *fReps; rep++ {
		dir, err := os.MkdirTemp(*fWorkdir, "startup-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		port := freePort()
		argv := make([]string, len(args))
		for i, a := range args {
			a = strings.ReplaceAll(a, "{PORT}", strconv.Itoa(port))
			argv[i] = strings.ReplaceAll(a, "{DIR}", dir)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stderr = io.Discard
		var stdin io.WriteCloser
		var stdout *bufio.Reader
		if *fMode == "management" {
			stdin, _ = cmd.StdinPipe()
			so, _ := cmd.StdoutPipe()
			stdout = bufio.NewReader(so)
		} else {
			cmd.Stdout = io.Discard
		}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ok := true
		if *fMode == "management" {
			line, err := stdout.ReadString('\n')
			if err != nil || !strings.Contains(line, `"ready"`) {
				ok, lastErr = false, fmt.Sprintf("first management line was %q (%v)", line, err)
			} else {
				readyMS = append(readyMS, float64(time.Since(t0).Microseconds())/1000)
				cfg := map[string]any{"id": "1", "method": "start", "params": map[string]any{"config": map[string]any{
					"server":  map[string]any{"port": 0},
					"storage": map[string]any{"directory": dir},
					"auth":    map[string]any{"enabled": true, "credentials": []any{map[string]any{"accessKeyId": *fAK, "secretAccessKey": *fSK}}},
				}}}
				b, _ := json.Marshal(cfg)
				stdin.Write(append(b, '\n'))
				port = 0
				for i := 0; i < 1000; i++ {
					l, err := stdout.ReadString('\n')
					if err != nil {
						lastErr = "management stdout ended: " + err.Error()
						break
					}
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) != nil || m["id"] != "1" {
						continue
					}
					if m["success"] != true {
						lastErr = "start failed: " + strings.TrimSpace(l)
						break
					}
					port = findPort(m["result"])
					startedMS = append(startedMS, float64(time.Since(t0).Microseconds())/1000)
					break
				}
				if port == 0 {
					ok = false
				}
				go io.Copy(io.Discard, stdout) // keep draining events
			}
		}
		if ok {
			*fEndpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
			c := newClient(1)
			c.hc.Timeout = 2 * time.Second
			_, up, last := waitUp(c, *fTimeout)
			if up {
				firstMS = append(firstMS, float64(time.Since(t0).Microseconds())/1000)
			} else {
				ok, lastErr = false, last
			}
			c.hc.CloseIdleConnections()
		}
		if !ok {
			failures++
		}
		if stdin != nil {
			stdin.Write([]byte(`{"id":"2","method":"stop","params":{}}` + "\n"))
			stdin.Close()
		}
		stopProc(cmd)
		os.RemoveAll(dir)
	}
	med := func(v []float64) (float64, float64, float64) {
		if len(v) == 0 {
			return 0, 0, 0
		}
		sort.Float64s(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}
	r := &result{Op: "startup-" + *fMode, Conc: 1, Ops: int64(len(firstMS)), Errors: int64(failures), Extra: map[string]float64{}}
	m, lo, hi := med(firstMS)
	r.Extra["first_ok_ms"], r.Extra["first_ok_min_ms"], r.Extra["first_ok_max_ms"] = m, lo, hi
	if *fMode == "management" {
		m, lo, hi = med(readyMS)
		r.Extra["ready_ms"], r.Extra["ready_min_ms"], r.Extra["ready_max_ms"] = m, lo, hi
		m, lo, hi = med(startedMS)
		r.Extra["started_ms"], r.Extra["started_min_ms"], r.Extra["started_max_ms"] = m, lo, hi
	}
	if failures > 0 {
		r.ErrSamples = []string{lastErr}
	}
	emit(r)
}

// ---------------------------------------------------------------- main

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: s3load wait|mkbucket|put|fill|get|mixed|big|rm|listdel|startup [flags] [-- cmd]")
		os.Exit(2)
	}
	// The subcommand may stand anywhere before "--" (flags are shared).
	known := map[string]bool{"wait": true, "mkbucket": true, "put": true, "fill": true, "get": true, "mixed": true, "big": true, "rm": true, "listdel": true, "startup": true}
	sub, rest := "", []string{}
	for i, a := range os.Args[1:] {
		if a == "--" {
			rest = append(rest, os.Args[1+i:]...)
			break
		}
		if sub == "" && known[a] {
			sub = a
			continue
		}
		rest = append(rest, a)
	}
	flag.CommandLine.Parse(rest)
	if *fSSE != "" && *fSSE != "s3" && *fSSE != "c" {
		fmt.Fprintln(os.Stderr, "-sse: s3 or c, not", *fSSE)
		os.Exit(2)
	}
	if sub == "startup" {
		cmdStartup(flag.Args())
		return
	}
	c := newClient(*fConc)
	switch sub {
	case "wait":
		cmdWait(c)
	case "mkbucket":
		cmdMkBucket(c)
	case "put":
		cmdPut(c)
	case "fill":
		r := fill(c, *fPrefix, *fObjects, *fConc, *fSize, false)
		if r.Errors > 0 || r.Ops != int64(*fObjects) {
			b, _ := json.Marshal(r)
			fmt.Fprintf(os.Stderr, "fill incomplete: %s\n", b)
			os.Exit(1)
		}
	case "get":
		cmdGet(c)
	case "mixed":
		cmdMixed(c)
	case "big":
		cmdBig(c)
	case "listdel":
		cmdListDel(c)
	case "rm":
		cmdRm(c)
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", sub)
		os.Exit(2)
	}
}
