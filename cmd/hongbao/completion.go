package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// completionCmd prints the shell's hook; the completions themselves are
// answered by kongplete in run when the shell calls hongbao with COMP_LINE
// set.
type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"Shell: bash, zsh or fish."`
}

func (*completionCmd) Help() string {
	return `Prints the completion script for a shell. Load it in the current shell with
	eval "$(hongbao completion bash)"      (or zsh)
	hongbao completion fish | source
or add that line to the shell's start-up file.`
}

var completionScripts = map[string]string{
	"bash": "complete -C %[1]q %[2]s\n",
	"zsh":  "autoload -U +X bashcompinit && bashcompinit\ncomplete -C %[1]q %[2]s\n",
	"fish": `function __complete_%[2]s
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    %[1]q
end
complete -f -c %[2]s -a "(__complete_%[2]s)"
`,
}

func (c *completionCmd) Run(e *runEnv) error {
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, completionScripts[c.Shell], bin, "hongbao")
	return err
}
