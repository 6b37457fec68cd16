package projector

// JSONAppender is implemented by row types that encode themselves exactly
// as json.Marshal encodes them, byte for byte, only faster (no
// reflection). A Tx encodes the rows it writes with it when their type
// implements it (on the value or the pointer), with json.Marshal
// otherwise. rowtest.CheckJSON holds an implementation to json.Marshal.
type JSONAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}
