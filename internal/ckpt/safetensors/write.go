package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// ChunkBytes is the size of the pieces in which Write copies tensor data.
const ChunkBytes = 4 << 20

// dtypeNames is the inverse of dtypes.
var dtypeNames = func() map[ckpt.DType]string {
	m := make(map[ckpt.DType]string, len(dtypes))
	for s, d := range dtypes {
		m[d] = s
	}
	return m
}()

// Write writes tensors (in the order given) and metadata as a safetensors
// file to w. The header is computed from the shapes first, then each
// tensor's bytes are copied in chunks of ChunkBytes, so memory stays bounded
// whatever the tensor sizes. The output depends only on the arguments.
// Q8_0 tensors are refused: safetensors has no such dtype.
func Write(w io.Writer, tensors []*ckpt.Tensor, metadata map[string]string) error {
	hdr, err := Header(tensors, metadata)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("safetensors: writing the header: %w", err)
	}
	var buf []byte
	for _, t := range tensors {
		for _, c := range t.Chunks(ChunkBytes) {
			if int64(cap(buf)) < c.Len {
				buf = make([]byte, c.Len)
			}
			b := buf[:c.Len]
			if err := t.ReadChunk(c, b); err != nil {
				var fe *ckpt.FormatError
				if errors.As(err, &fe) {
					return err // the source's error, naming its file and format
				}
				return fmt.Errorf("safetensors: %w", err)
			}
			if _, err := bw.Write(b); err != nil {
				return fmt.Errorf("safetensors: writing tensor %q: %w", t.Name, err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: writing: %w", err)
	}
	return nil
}

// Header returns the first bytes of the safetensors file Write writes for
// tensors and metadata: the 8-byte length and the JSON header padded with
// spaces so that the data starts at a multiple of 8. It validates the
// tensors: known dtype (not Q8_0), consistent shape, a data source, a valid
// UTF-8 name that is unique and not "__metadata__".
func Header(tensors []*ckpt.Tensor, metadata map[string]string) ([]byte, error) {
	var js bytes.Buffer
	js.WriteString("{")
	if len(metadata) > 0 {
		if err := writeMetadata(&js, metadata); err != nil {
			return nil, err
		}
	}
	seen := make(map[string]bool, len(tensors))
	off := int64(0)
	for i, t := range tensors {
		if err := checkTensor(t, seen); err != nil {
			return nil, err
		}
		n := t.NBytes()
		if off > math.MaxInt64-n {
			return nil, fmt.Errorf("safetensors: tensor %q: the data section would overflow int64", t.Name)
		}
		if i > 0 || len(metadata) > 0 {
			js.WriteByte(',')
		}
		writeString(&js, t.Name)
		js.WriteString(`:{"dtype":"` + dtypeNames[t.DType] + `","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				js.WriteByte(',')
			}
			js.WriteString(strconv.FormatInt(d, 10))
		}
		fmt.Fprintf(&js, `],"data_offsets":[%d,%d]}`, off, off+n)
		off += n
	}
	js.WriteString("}")
	for js.Len()%8 != 0 {
		js.WriteByte(' ')
	}
	if js.Len() > MaxHeader {
		return nil, fmt.Errorf("safetensors: header of %d bytes exceeds the limit of %d", js.Len(), MaxHeader)
	}
	out := make([]byte, 8, 8+js.Len())
	binary.LittleEndian.PutUint64(out, uint64(js.Len()))
	return append(out, js.Bytes()...), nil
}

func checkTensor(t *ckpt.Tensor, seen map[string]bool) error {
	if t == nil {
		return errors.New("safetensors: nil tensor")
	}
	if err := t.Check(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if _, ok := dtypeNames[t.DType]; !ok {
		return fmt.Errorf("safetensors: tensor %q: dtype %s cannot be stored in safetensors", t.Name, t.DType)
	}
	if len(t.Shape) > MaxDims {
		return fmt.Errorf("safetensors: tensor %q: %d dimensions, at most %d", t.Name, len(t.Shape), MaxDims)
	}
	if !utf8.ValidString(t.Name) {
		return fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
	}
	if t.Name == metadataKey {
		return fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
	}
	if seen[t.Name] {
		return fmt.Errorf("safetensors: tensor %q given twice", t.Name)
	}
	seen[t.Name] = true
	return nil
}

func writeMetadata(js *bytes.Buffer, metadata map[string]string) error {
	keys := make([]string, 0, len(metadata))
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("safetensors: metadata %q: not valid UTF-8", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	writeString(js, metadataKey)
	js.WriteString(":{")
	for i, k := range keys {
		if i > 0 {
			js.WriteByte(',')
		}
		writeString(js, k)
		js.WriteByte(':')
		writeString(js, metadata[k])
	}
	js.WriteString("}")
	return nil
}

// writeString writes s as a JSON string (without HTML escaping).
func writeString(js *bytes.Buffer, s string) {
	enc := json.NewEncoder(js)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)         // cannot fail for a string into a bytes.Buffer
	js.Truncate(js.Len() - 1) // Encode's newline
}
