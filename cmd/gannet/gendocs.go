package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// gannet gendocs: the man pages and the bash completion the Debian package
// ships, generated from the commands themselves so they cannot drift from
// the binary. Hidden: it is a build step (scripts/deb.sh), not an operator
// verb.
func newGendocsCmd() *cobra.Command {
	var manDir, bashFile string
	cmd := &cobra.Command{
		Use:    "gendocs --man DIR --bash-completion FILE",
		Short:  "write the man pages (section 8) and the bash completion",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if manDir == "" && bashFile == "" {
				return fmt.Errorf("nothing to do: give --man DIR and/or --bash-completion FILE")
			}
			root := cmd.Root()
			if manDir != "" {
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return err
				}
				// The date comes from SOURCE_DATE_EPOCH when set
				// (reproducible builds), else today.
				header := &doc.GenManHeader{Title: "GANNET", Section: "8", Source: "gannet " + version, Manual: "gannet manual"}
				if err := doc.GenManTree(root, header, manDir); err != nil {
					return fmt.Errorf("--man: %w", err)
				}
			}
			if bashFile != "" {
				if err := os.MkdirAll(filepath.Dir(bashFile), 0o755); err != nil {
					return err
				}
				f, err := os.Create(bashFile)
				if err != nil {
					return fmt.Errorf("--bash-completion: %w", err)
				}
				if err := root.GenBashCompletionV2(f, true); err != nil {
					f.Close()
					return fmt.Errorf("--bash-completion: %w", err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("--bash-completion: %w", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "directory for gannet.8 and one page per verb")
	cmd.Flags().StringVar(&bashFile, "bash-completion", "", "file for the bash completion script")
	return cmd
}
