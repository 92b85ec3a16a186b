//go:build !linux

package loadtest

import "errors"

func fileLimit() (uint64, error) { return 0, errors.ErrUnsupported }

func closingTCP(v6 bool) ([]tuple, error) { return nil, errors.ErrUnsupported }
