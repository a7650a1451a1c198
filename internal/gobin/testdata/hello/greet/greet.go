// Package greet gives the test binary a non-main package of its own module.
package greet

import "strings"

// Greeter greets one name.
type Greeter struct{ name string }

// New returns a Greeter for name.
func New(name string) *Greeter { return &Greeter{name: name} }

// Hello is a pointer-receiver method, named (*Greeter).Hello in the binary.
//
//go:noinline
func (g *Greeter) Hello() string { return "hello, " + g.name }

// Shout is a plain function.
//
//go:noinline
func Shout(s string) string { return strings.ToUpper(s) + "!" }

// Pair is generic so the binary carries an instantiated name with brackets.
type Pair[T any] struct{ A, B T }

// Swap is a generic method.
//
//go:noinline
func (p Pair[T]) Swap() Pair[T] { return Pair[T]{p.B, p.A} }
