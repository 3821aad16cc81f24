//go:build !unix

package arrowtrace

import (
	"errors"
	"os"
)

// mapFile is not available on this system; readers fall back to reading the file.
func mapFile(f *os.File, size int64) ([]byte, func(), error) {
	return nil, nil, errors.New("no memory mapping on this system")
}
