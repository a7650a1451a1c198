// Command kinship attributes binaries to malware families and threat
// actors by the code they share with samples already attributed.
package main

import (
	"os"

	"github.com/kinship-dev/kinship/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
