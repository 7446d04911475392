// Package version says which build of Privacy Operator a binary is: the
// release it belongs to and the commit it was built from, both set at build
// time (`make build`, `make image` and `make release` pass them), which
// every binary prints for --version.
package version

import (
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
)

// Version is the release, set at build time with
// -ldflags "-X github.com/privacyoperator/privacy-operator/internal/version.Version=v0.3.0"
// (LDFlags writes that). Left at "dev", the module's version from the build
// info is used when there is one (`go install ...@v0.3.0`).
var Version = "dev"

// Commit is the commit the binary was built from, set at build time like
// Version. Empty: the VCS revision Go stamped into the build info, if any
// (not with -buildvcs=false, nor from a source tree without .git).
var Commit = ""

// Info is what a binary knows about its build.
type Info struct {
	// Version is the release, e.g. v0.3.0, or "dev".
	Version string
	// Commit is the commit's hash, shortened to 7 characters; empty when
	// unknown.
	Commit string
	// Modified is true when the build info says the tree had uncommitted
	// changes (only known from Go's VCS stamp, not from Commit).
	Modified bool
}

// Get returns this binary's build: Version and Commit as set at build
// time, else what the Go build info holds.
func Get() Info {
	info := Info{Version: Version, Commit: Commit}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && Commit == "":
				info.Commit = s.Value
			case s.Key == "vcs.modified" && Commit == "":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if len(info.Commit) > 7 {
		info.Commit = info.Commit[:7]
	}
	return info
}

// String is the version with its commit: "v0.3.0 (commit abc1234)",
// "dev (commit abc1234, modified)", or the version alone when the commit is
// unknown.
func (i Info) String() string {
	switch {
	case i.Commit == "":
		return i.Version
	case i.Modified:
		return fmt.Sprintf("%s (commit %s, modified)", i.Version, i.Commit)
	default:
		return fmt.Sprintf("%s (commit %s)", i.Version, i.Commit)
	}
}

// Print writes what --version prints: the program's name and the build,
// e.g. "kubectl-privacy v0.3.0 (commit abc1234)".
func Print(w io.Writer, program string) {
	fmt.Fprintln(w, program, Get())
}

// Requested reports whether a command line that a binary dispatches on
// itself (subcommands first) asks only for the version: a lone --version
// or -version.
func Requested(args []string) bool {
	return len(args) == 1 && (args[0] == "--version" || args[0] == "-version")
}

// Package is this package's import path, the target of -X.
var Package = reflect.TypeOf(Info{}).PkgPath()

// LDFlags returns the linker flags that set Version and Commit (either may
// be empty, then it is left out), for `go build -ldflags`.
func LDFlags(version, commit string) string {
	var flags string
	if version != "" {
		flags = "-X " + Package + ".Version=" + version
	}
	if commit != "" {
		if flags != "" {
			flags += " "
		}
		flags += "-X " + Package + ".Commit=" + commit
	}
	return flags
}
