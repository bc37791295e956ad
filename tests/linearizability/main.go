// lincheck: checks a recorded key/value history for linearizability with
// porcupine. See README.md for the input format and exit codes.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// One line of the input history.
type record struct {
	Client *int    `json:"client"`
	Key    *string `json:"key"`
	Op     string  `json:"op"`
	Value  *string `json:"value"`
	Call   *int64  `json:"call"`
	Return *int64  `json:"return"`
	Status string  `json:"status"`
}

// The state of one key. A plain comparable struct so porcupine's default ==
// equality works and its state cache can dedupe.
type register struct {
	Present bool
	Value   string
}

type input struct {
	Op    string // put | get | delete
	Value string // put only
}

type output struct {
	Unknown bool     // timed-out put/delete: no reply to check
	Read    register // get only
}

var model = porcupine.Model{
	// Per-key model: main() hands porcupine one key's history at a time, so
	// the state is a single register rather than a map.
	Init: func() interface{} { return register{} },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		st, i, o := state.(register), in.(input), out.(output)
		switch i.Op {
		case "put":
			return true, register{Present: true, Value: i.Value}
		case "delete":
			return true, register{}
		default: // get
			return o.Read == st, st
		}
	},
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(input), out.(output)
		switch {
		case i.Op == "put":
			return fmt.Sprintf("put(%q)", i.Value)
		case i.Op == "delete":
			return "delete()"
		case o.Read.Present:
			return fmt.Sprintf("get() -> %q", o.Read.Value)
		default:
			return "get() -> null"
		}
	},
	DescribeState: func(state interface{}) string {
		if st := state.(register); st.Present {
			return fmt.Sprintf("%q", st.Value)
		}
		return "null"
	},
}

type result struct {
	OK          bool     `json:"ok"`
	Result      string   `json:"result"` // ok | illegal | unknown | error
	Operations  int      `json:"operations"`
	Checked     int      `json:"checked"` // after dropping failed ops and timed-out gets
	Keys        int      `json:"keys"`
	Violations  []string `json:"violations"`
	UnknownKeys []string `json:"unknown_keys"`
	Error       string   `json:"error,omitempty"`
}

func emit(r result, code int) {
	if r.Violations == nil {
		r.Violations = []string{}
	}
	if r.UnknownKeys == nil {
		r.UnknownKeys = []string{}
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	os.Exit(code)
}

func badInput(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "lincheck:", msg)
	emit(result{Result: "error", Error: msg}, 2)
}

// parse reads the history and returns the operations grouped by key, plus
// the number of input operations.
func parse(r io.Reader) (map[string][]porcupine.Operation, int) {
	byKey := map[string][]porcupine.Operation{}
	var maxTime int64 = math.MinInt64
	n := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 0; sc.Scan(); {
		line++
		text := sc.Bytes()
		if len(trimSpace(text)) == 0 {
			continue
		}
		var rec record
		if err := json.Unmarshal(text, &rec); err != nil {
			badInput("line %d: %v", line, err)
		}
		n++
		if rec.Client == nil || *rec.Client < 0 || rec.Key == nil || rec.Call == nil {
			badInput("line %d: client (>= 0), key and call are required", line)
		}
		if rec.Op != "put" && rec.Op != "get" && rec.Op != "delete" {
			badInput("line %d: op must be put, get or delete, got %q", line, rec.Op)
		}
		if rec.Op == "put" && rec.Value == nil {
			badInput("line %d: put needs a string value", line)
		}
		if *rec.Call > maxTime {
			maxTime = *rec.Call
		}
		if rec.Return != nil && *rec.Return > maxTime {
			maxTime = *rec.Return
		}
		in := input{Op: rec.Op}
		if rec.Op == "put" {
			in.Value = *rec.Value
		}
		op := porcupine.Operation{ClientId: *rec.Client, Input: in, Call: *rec.Call}
		switch rec.Status {
		case "fail":
			// Definitely did not take effect: it constrains nothing.
			continue
		case "timeout", "unknown":
			if rec.Op == "get" {
				// A read with no answer tells us nothing.
				continue
			}
			// May have taken effect at any point after its call, or never.
			// As in porcupine's own Jepsen/etcd test, its return goes after
			// every other event in the history (set once maxTime is known):
			// then it may be linearized anywhere after its call, including
			// after everything else, which is the same as "never".
			op.Output = output{Unknown: true}
			byKey[*rec.Key] = append(byKey[*rec.Key], op)
			continue
		case "ok":
		default:
			badInput("line %d: status must be ok, fail or timeout, got %q", line, rec.Status)
		}
		if rec.Return == nil {
			badInput("line %d: an ok operation needs a return time", line)
		}
		if *rec.Return < *rec.Call {
			badInput("line %d: return %d is before call %d", line, *rec.Return, *rec.Call)
		}
		op.Return = *rec.Return
		if rec.Op == "get" && rec.Value != nil {
			op.Output = output{Read: register{Present: true, Value: *rec.Value}}
		} else {
			op.Output = output{}
		}
		byKey[*rec.Key] = append(byKey[*rec.Key], op)
	}
	if err := sc.Err(); err != nil {
		badInput("read: %v", err)
	}
	for _, ops := range byKey {
		for i := range ops {
			if ops[i].Output.(output).Unknown {
				ops[i].Return = maxTime + 1
			}
		}
	}
	return byKey, n
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "give up (result \"unknown\", exit 3) after this long in total")
	vizDir := flag.String("viz", "", "write a porcupine HTML visualization per violating key into this directory")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: lincheck [-timeout 5m] [-viz DIR] [HISTORY.jsonl | -]")
		flag.PrintDefaults()
	}
	flag.Parse()
	var in io.Reader = os.Stdin
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if flag.NArg() == 1 && flag.Arg(0) != "-" {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			badInput("%v", err)
		}
		defer f.Close()
		in = f
	}
	byKey, n := parse(in)

	keys := make([]string, 0, len(byKey))
	checked := 0
	for k, ops := range byKey {
		keys = append(keys, k)
		checked += len(ops)
	}
	sort.Strings(keys)

	// Keys are checked one by one (the partition porcupine's Model.Partition
	// would make), on a few workers, against one shared deadline. Doing the
	// split here rather than in porcupine tells us *which* keys fail.
	deadline := time.Now().Add(*timeout)
	verdicts := make([]porcupine.CheckResult, len(keys))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				left := time.Until(deadline)
				if left <= 0 {
					verdicts[i] = porcupine.Unknown
					continue
				}
				verdicts[i] = porcupine.CheckOperationsTimeout(model, byKey[keys[i]], left)
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()

	res := result{OK: true, Result: "ok", Operations: n, Checked: checked, Keys: len(keys)}
	for i, k := range keys {
		switch verdicts[i] {
		case porcupine.Illegal:
			res.Violations = append(res.Violations, k)
		case porcupine.Unknown:
			res.UnknownKeys = append(res.UnknownKeys, k)
		}
	}
	for _, k := range res.Violations {
		if *vizDir == "" {
			break
		}
		// Rerun verbosely only for the failing keys: computing the partial
		// linearizations is slower than a plain check.
		_, info := porcupine.CheckOperationsVerbose(model, byKey[k], time.Minute)
		path := filepath.Join(*vizDir, "key-"+unsafeChars.ReplaceAllString(k, "_")+".html")
		if err := os.MkdirAll(*vizDir, 0o755); err == nil {
			if err := porcupine.VisualizePath(model, info, path); err != nil {
				fmt.Fprintln(os.Stderr, "lincheck: visualization:", err)
			} else {
				fmt.Fprintln(os.Stderr, "lincheck: wrote", path)
			}
		}
	}
	switch {
	case len(res.Violations) > 0:
		res.OK, res.Result = false, "illegal"
		emit(res, 1)
	case len(res.UnknownKeys) > 0:
		res.OK, res.Result = false, "unknown"
		emit(res, 3)
	}
	emit(res, 0)
}
