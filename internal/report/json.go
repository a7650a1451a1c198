package report

import (
	"encoding/json"
	"io"
)

// JSON writes any report value as indented JSON, one document per call.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
