//go:build !linux

package main

import "errors"

func loadFileLimit() (uint64, error) { return 0, errors.ErrUnsupported }

func loadClosingTCP(v6 bool) ([]loadTuple, error) { return nil, errors.ErrUnsupported }
