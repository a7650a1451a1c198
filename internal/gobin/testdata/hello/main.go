// Command hello is a tiny program whose binaries exercise package gobin.
package main

import (
	"fmt"
	"os"

	"example.com/hello/greet"
)

func main() {
	g := greet.New("world")
	fmt.Println(g.Hello())
	fmt.Println(greet.Shout(os.Args[0]))
	p := greet.Pair[int]{A: 1, B: len(os.Args)}.Swap()
	fmt.Println(p.A, p.B)
}
