// Package arrowtrace reads and writes traces in Apache Arrow IPC (file and stream) and Apache
// Parquet, the columnar formats that pandas, Polars, DuckDB and Spark read natively.
//
// Importing the package registers three formats with package traces, so that traces.Open and
// traces.Create handle them by content and by file name:
//
//   - "arrow": the Arrow IPC file format (".arrow", ".feather", ".ipc"), read sequentially;
//   - "arrows": the Arrow IPC stream format (".arrows");
//   - "parquet": Parquet (".parquet", ".pq"), zstd-compressed.
//
// Every format holds one column per traces.Field, named and ordered as traces.AllFields lists them,
// with the types that Schema documents; absent fields are nulls. The trace's traces.Meta is stored
// as its JSON under the key traces.MetaKey in the Arrow schema metadata (and so in the Parquet
// key-value metadata). Readers also accept files written by other tools whose columns are any
// subset of the canonical ones, in any order, as long as time and model are present, and
// tolerate compatible types (other timestamp units, narrower integers, dictionary-encoded strings,
// large and view strings, float32).
//
// Readers and writers work one batch (BatchRows rows, or a Parquet row group) at a time, so memory
// does not grow with the length of a trace. Readers never panic on corrupt input: they report a
// fatal *traces.Error instead.
//
// This codec lives outside package traces so that binaries which do not need Arrow or Parquet do
// not link the Arrow libraries: import it for its side effect (import _ ".../traces/arrowtrace")
// where those formats are wanted.
package arrowtrace
