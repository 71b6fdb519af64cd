package graphhttp

import (
	"encoding/hex"
	"fmt"
)

func hexString(b []byte) string { return hex.EncodeToString(b) }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
