//go:build !linux

package cli

// totalMemory returns 0 (unknown) where it is not read: agents are bounded
// by maxAgentsCap alone.
func totalMemory() uint64 { return 0 }

// openFilesLimit returns 0 (unknown) where it is not read.
func openFilesLimit() uint64 { return 0 }
