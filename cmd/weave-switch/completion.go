package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The bash and zsh scripts ask the program itself for the words that
// fit (urfave/cli's --generate-bash-completion), so they follow the CLI
// definition as it is; fish gets a script generated from it.
const bashCompletion = `# bash completion for weave-switch (weave-switch completion bash)
_weave_switch() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == -* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  return 0
}
complete -o bashdefault -o default -F _weave_switch weave-switch
`

const zshCompletion = `#compdef weave-switch
# zsh completion for weave-switch (weave-switch completion zsh)
_weave_switch() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} "$cur" --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ -n "${opts[1]}" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ "$funcstack[1]" == "_weave_switch" ]]; then
  _weave_switch "$@"
else
  compdef _weave_switch weave-switch
fi
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash:  source <(weave-switch completion bash)   (or save it in /etc/bash_completion.d/)\n" +
			"zsh:   weave-switch completion zsh > \"${fpath[1]}/_weave-switch\"\n" +
			"fish:  weave-switch completion fish > ~/.config/fish/completions/weave-switch.fish",
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(w, bashCompletion)
			case "zsh":
				fmt.Fprint(w, zshCompletion)
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return cli.Exit("completion fish: "+err.Error(), 1)
				}
				fmt.Fprint(w, s)
			default:
				return cli.Exit(fmt.Sprintf("completion: want bash, zsh or fish, got %q", c.Args().First()), 2)
			}
			return nil
		},
	}
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the manual page (troff), generated from the commands and flags",
		Hidden: true,
		Action: func(c *cli.Context) error {
			s, err := c.App.ToMan()
			if err != nil {
				return cli.Exit("man: "+err.Error(), 1)
			}
			fmt.Fprint(c.App.Writer, s)
			return nil
		},
	}
}
