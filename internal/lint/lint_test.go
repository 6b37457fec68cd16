package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pkg is what the checks need of `go list -json`.
type pkg struct {
	ImportPath   string
	Dir          string
	Name         string
	Standard     bool
	Module       *struct{ Path string }
	GoFiles      []string
	TestGoFiles  []string
	XTestGoFiles []string
	Imports      []string
}

// module is the module under test: its path and root, its own packages and
// everything they import.
type module struct {
	path string
	root string
	own  []*pkg          // the module's packages, sorted by import path
	all  map[string]*pkg // every package in their dependency graph
}

var (
	loadOnce sync.Once
	loaded   *module
	loadErr  error
)

// load runs `go list -deps -json ./...` once, from the module root.
func load(t *testing.T) *module {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = list() })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

func list() (*module, error) {
	out, err := goCmd(".", "list", "-m", "-f", "{{.Path}} {{.Dir}}")
	if err != nil {
		return nil, err
	}
	modPath, root, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok {
		return nil, fmt.Errorf("go list -m: %q", out)
	}
	out, err = goCmd(root, "list", "-deps", "-json=ImportPath,Dir,Name,Standard,Module,GoFiles,TestGoFiles,XTestGoFiles,Imports", "./...")
	if err != nil {
		return nil, err
	}
	m := &module{path: modPath, root: root, all: map[string]*pkg{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -json: %v", err)
		}
		m.all[p.ImportPath] = p
		if p.Module != nil && p.Module.Path == modPath {
			m.own = append(m.own, p)
		}
	}
	sort.Slice(m.own, func(i, j int) bool { return m.own[i].ImportPath < m.own[j].ImportPath })
	if len(m.own) < 10 {
		return nil, fmt.Errorf("go list found only %d packages of %s", len(m.own), modPath)
	}
	return m, nil
}

// match returns the module's packages matching patterns relative to the
// module root, as go list reads them: "events" or "aggregates/...".
func (m *module) match(t *testing.T, patterns ...string) []*pkg {
	t.Helper()
	var out []*pkg
	for _, pat := range patterns {
		n := len(out)
		for _, p := range m.own {
			rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, m.path), "/")
			if base, ok := strings.CutSuffix(pat, "/..."); ok {
				if rel == base || strings.HasPrefix(rel, base+"/") {
					out = append(out, p)
				}
			} else if rel == pat {
				out = append(out, p)
			}
		}
		if len(out) == n {
			t.Errorf("pattern %q matches no package: update the lint test", pat)
		}
	}
	return out
}

func (m *module) rel(p *pkg, file string) string {
	r, err := filepath.Rel(m.root, filepath.Join(p.Dir, file))
	if err != nil {
		return filepath.Join(p.Dir, file)
	}
	return filepath.ToSlash(r)
}

// where is pos as file:line:column, the file relative to the module root.
func (m *module) where(fset *token.FileSet, pos token.Pos) string {
	p := fset.Position(pos)
	if r, err := filepath.Rel(m.root, p.Filename); err == nil {
		p.Filename = filepath.ToSlash(r)
	}
	return p.String()
}

// importChain returns how from depends on a package whose import path
// starts with prefix ("a -> b -> c"), or "" when it does not.
func (m *module) importChain(from, prefix string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur != from && (cur == prefix || strings.HasPrefix(cur, prefix+"/")) {
			var chain []string
			for c := cur; c != ""; c = prev[c] {
				chain = append(chain, c)
			}
			slices.Reverse(chain)
			return strings.Join(chain, " -> ")
		}
		p := m.all[cur]
		if p == nil {
			continue
		}
		for _, imp := range p.Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return ""
}

// knownViolations are checks that are known to fail today, each with why
// and what removes it. A listed check that passes fails the test: remove
// the entry then.
var knownViolations = map[string]string{}

// report fails t with the violations, unless t is a known violation, in
// which case it logs them and fails only when there are none left.
func report(t *testing.T, violations []string) {
	t.Helper()
	why, known := knownViolations[t.Name()]
	switch {
	case known && len(violations) == 0:
		t.Errorf("%s passes now: remove it from knownViolations (%s)", t.Name(), why)
	case known:
		t.Logf("known violation (%s), allowed by knownViolations:\n\t%s", why, strings.Join(violations, "\n\t"))
	case len(violations) > 0:
		t.Errorf("%d violations:\n\t%s", len(violations), strings.Join(violations, "\n\t"))
	}
}

// TestImports: the pure core imports neither NATS nor Pebble, and the read
// models do not import the client contract, directly or transitively.
func TestImports(t *testing.T) {
	m := load(t)
	rules := []struct {
		name      string
		packages  []string
		forbidden []string
	}{
		{
			name:     "core-without-nats-or-pebble",
			packages: []string{"aggregates/...", "events", "api"},
			forbidden: []string{
				"github.com/nats-io/nats.go",
				"github.com/nats-io/nats-server",
				"github.com/cockroachdb/pebble",
			},
		},
		{
			name:      "projections-without-api",
			packages:  []string{"projections/..."},
			forbidden: []string{m.path + "/api"},
		},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			var violations []string
			for _, p := range m.match(t, r.packages...) {
				for _, f := range r.forbidden {
					if chain := m.importChain(p.ImportPath, f); chain != "" {
						violations = append(violations, chain)
					}
				}
			}
			report(t, violations)
		})
	}
}

// parseFiles parses the named files of p with comments.
func parseFiles(t *testing.T, m *module, p *pkg, files []string) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]*ast.File{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		out[m.rel(p, name)] = f
	}
	return fset, out
}

// declName names the top-level declaration that contains pos: a function
// ("F", "T.M") or the first name of a general declaration.
func declName(f *ast.File, pos token.Pos) string {
	for _, d := range f.Decls {
		if pos < d.Pos() || pos >= d.End() {
			continue
		}
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv != nil && len(d.Recv.List) > 0 {
				return recvName(d.Recv.List[0].Type) + "." + d.Name.Name
			}
			return d.Name.Name
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					return s.Name.Name
				case *ast.ValueSpec:
					return s.Names[0].Name
				}
			}
		}
	}
	return "?"
}

func recvName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvName(e.X)
	case *ast.IndexExpr:
		return recvName(e.X)
	case *ast.IndexListExpr:
		return recvName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return "?"
}

// allowlist maps "file:declaration" to why it is allowed. used records the
// entries that matched.
type allowlist struct {
	entries map[string]string
	used    map[string]bool
}

func newAllowlist(entries map[string]string) *allowlist {
	return &allowlist{entries: entries, used: map[string]bool{}}
}

func (a *allowlist) allows(key string) bool {
	if _, ok := a.entries[key]; ok {
		a.used[key] = true
		return true
	}
	return false
}

// stale lists the entries that matched nothing: the code they excused is
// gone, so they must go too.
func (a *allowlist) stale() []string {
	var out []string
	for k := range a.entries {
		if !a.used[k] {
			out = append(out, k+": allowlisted but no longer found; remove the entry")
		}
	}
	sort.Strings(out)
	return out
}

// floatExceptions are the float uses in money code that carry no money,
// keyed by file and top-level declaration.
var floatExceptions = map[string]string{
	"projections/rebuild.go:Progress": "a rebuild's events per second, for progress output; no money",
	"projections/rebuild.go:catchUp":  "computes that rate and the ETA from event counts; no money",
}

// TestNoFloatsInMoneyCode: amounts are int64 fen everywhere; a float in
// money code is a rounding error waiting to happen.
func TestNoFloatsInMoneyCode(t *testing.T) {
	m := load(t)
	allowed := newAllowlist(floatExceptions)
	var violations []string
	for _, p := range m.match(t, "aggregates/...", "events", "ledger", "projections/...", "reconcile", "dispatch", "eventstore", "service") {
		fset, files := parseFiles(t, m, p, p.GoFiles)
		for name, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				id, ok := n.(*ast.Ident)
				if !ok || (id.Name != "float64" && id.Name != "float32") {
					return true
				}
				key := name + ":" + declName(f, id.Pos())
				if !allowed.allows(key) {
					violations = append(violations, fmt.Sprintf("%s: %s in %s", m.where(fset, id.Pos()), id.Name, key))
				}
				return true
			})
		}
	}
	report(t, append(violations, allowed.stale()...))
}

// sleepExceptions are the tests that may call time.Sleep, keyed by file and
// top-level declaration, with why polling does not fit.
var sleepExceptions = map[string]string{
	"projections/projector/crash_test.go:crashRun": "spaces successive crash images in time so that " +
		"each lands at another point of the projector's commit cycle; it waits for no condition",
	"projections/projector/crash_test.go:crashSettle": "is itself a poll (100 µs interval, with a deadline) " +
		"run from inside Apply, where no *testing.T is at hand for natstest.Eventually",
}

// TestNoSleepInTests: tests wait for a condition by polling it
// (natstest.Eventually), never by sleeping a guessed time, which is both
// slow and flaky.
func TestNoSleepInTests(t *testing.T) {
	m := load(t)
	allowed := newAllowlist(sleepExceptions)
	var violations []string
	for _, p := range m.own {
		fset, files := parseFiles(t, m, p, slices.Concat(p.TestGoFiles, p.XTestGoFiles))
		for name, f := range files {
			timePkg := importName(f, "time")
			if timePkg == "" {
				continue
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Sleep" {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != timePkg {
					return true
				}
				key := name + ":" + declName(f, sel.Pos())
				if !allowed.allows(key) {
					violations = append(violations, fmt.Sprintf("%s: time.Sleep in %s; poll for the condition instead", m.where(fset, sel.Pos()), key))
				}
				return true
			})
		}
	}
	report(t, append(violations, allowed.stale()...))
}

// importName is the name under which f imports path, or "".
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path[strings.LastIndex(path, "/")+1:]
		}
	}
	return ""
}

// TestPackageDocs: every package has a doc.go with its package comment,
// and no other file has one (godoc would join them).
func TestPackageDocs(t *testing.T) {
	m := load(t)
	var violations []string
	for _, p := range m.own {
		if len(p.GoFiles) == 0 {
			continue
		}
		_, files := parseFiles(t, m, p, p.GoFiles)
		docFile := m.rel(p, "doc.go")
		f, ok := files[docFile]
		switch {
		case !ok:
			violations = append(violations, p.ImportPath+": no doc.go")
		case f.Doc == nil:
			violations = append(violations, docFile+": no package comment")
		default:
			want := "Package " + p.Name + " "
			if p.Name == "main" {
				want = "Command " + filepath.Base(p.Dir) + " "
			}
			if text := f.Doc.Text(); !strings.HasPrefix(text, want) {
				violations = append(violations, fmt.Sprintf("%s: the package comment starts %q, want %q", docFile, firstLine(text), want+"…"))
			}
		}
		for name, f := range files {
			if name != docFile && f.Doc != nil {
				violations = append(violations, name+": a package comment outside doc.go")
			}
		}
	}
	sort.Strings(violations)
	report(t, violations)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// eventTypes reads the event types from the events package: the constants
// of type Type, and the payload types (those with an eventType method).
func eventTypes(t *testing.T, m *module) (consts, payloads []string) {
	t.Helper()
	ps := m.match(t, "events")
	if len(ps) != 1 {
		t.Fatal("no events package")
	}
	_, files := parseFiles(t, m, ps[0], ps[0].GoFiles)
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Type" {
						for _, n := range vs.Names {
							consts = append(consts, n.Name)
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv != nil && d.Name.Name == "eventType" {
					payloads = append(payloads, recvName(d.Recv.List[0].Type))
				}
			}
		}
	}
	sort.Strings(consts)
	sort.Strings(payloads)
	if len(consts) < 5 || len(payloads) != len(consts) {
		t.Fatalf("events: found types %v and payloads %v; the lint test no longer understands the events package", consts, payloads)
	}
	return consts, payloads
}

// TestEventSwitchesExhaustive: a switch over the event types names every
// one of them, or has a default that returns an error (or panics), so a
// new event type is never silently ignored.
func TestEventSwitchesExhaustive(t *testing.T) {
	m := load(t)
	consts, payloads := eventTypes(t, m)
	eventsPath := m.path + "/events"
	var violations []string
	switches := 0
	for _, p := range m.own {
		fset, files := parseFiles(t, m, p, p.GoFiles)
		for _, f := range files {
			qual := importName(f, eventsPath) // "" inside package events
			if qual == "" && p.ImportPath != eventsPath {
				continue
			}
			// eventName names the event type a case expression denotes, or "".
			eventName := func(e ast.Expr, names []string) string {
				var id string
				switch e := e.(type) {
				case *ast.SelectorExpr:
					if x, ok := e.X.(*ast.Ident); ok && qual != "" && x.Name == qual {
						id = e.Sel.Name
					}
				case *ast.Ident:
					if qual == "" {
						id = e.Name
					}
				}
				if slices.Contains(names, id) {
					return id
				}
				return ""
			}
			ast.Inspect(f, func(n ast.Node) bool {
				var body *ast.BlockStmt
				var names []string
				switch s := n.(type) {
				case *ast.SwitchStmt:
					body, names = s.Body, consts
				case *ast.TypeSwitchStmt:
					body, names = s.Body, payloads
				default:
					return true
				}
				covered := map[string]bool{}
				var def *ast.CaseClause
				for _, c := range body.List {
					cc := c.(*ast.CaseClause)
					if cc.List == nil {
						def = cc
					}
					for _, e := range cc.List {
						if name := eventName(e, names); name != "" {
							covered[name] = true
						}
					}
				}
				if len(covered) == 0 {
					return true // not over event types
				}
				switches++
				var missing []string
				for _, name := range names {
					if !covered[name] {
						missing = append(missing, name)
					}
				}
				if len(missing) > 0 && (def == nil || !failsLoudly(def)) {
					violations = append(violations, fmt.Sprintf("%s: switch in %s misses %v and has no default returning an error",
						m.where(fset, n.Pos()), declName(f, n.Pos()), missing))
				}
				return true
			})
		}
	}
	if switches == 0 {
		t.Fatal("found no switch over event types: the lint test no longer recognises them")
	}
	t.Logf("%d switches over event types", switches)
	report(t, violations)
}

// failsLoudly reports whether a default clause returns an error or panics:
// a return whose last result is a call of fmt.Errorf, errors.New or
// errors.Join, or names an error variable (Err…), or a call of panic.
func failsLoudly(c *ast.CaseClause) bool {
	for _, s := range c.Body {
		switch s := s.(type) {
		case *ast.ReturnStmt:
			if len(s.Results) > 0 && isError(s.Results[len(s.Results)-1]) {
				return true
			}
		case *ast.ExprStmt:
			if call, ok := s.X.(*ast.CallExpr); ok {
				if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "panic" {
					return true
				}
			}
		}
	}
	return false
}

func isError(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.CallExpr:
		if sel, ok := e.Fun.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok {
				switch x.Name + "." + sel.Sel.Name {
				case "fmt.Errorf", "errors.New", "errors.Join":
					return true
				}
			}
		}
	case *ast.Ident:
		return strings.HasPrefix(e.Name, "Err")
	case *ast.SelectorExpr:
		return strings.HasPrefix(e.Sel.Name, "Err")
	}
	return false
}
