// Command hello is a tiny main package for the bundler's tests.
package main

import "fmt"

func main() { fmt.Println("hello") }
