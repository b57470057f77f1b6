// Package report builds and renders what `glipctl inspect` says about a
// checkpoint: its tensors (name, dtype, shape, size, and with statistics
// from package stats), the layout and architecture read off the names and
// shapes (through glip.NewBackbone and swin.ArchFromShapes), and the keys a
// backbone of that architecture is missing or has in excess. The JSON form
// (Inspection.WriteJSON) is the stable schema README.md documents; the text
// and Markdown forms are for people.
package report
