//! One module per subcommand: its flags, its help and its `run`; [`rows`] holds the input and
//! row flags that several share.

pub mod completions;
pub mod fetch;
pub mod flatten;
pub mod man;
pub mod names;
pub mod regions;
pub mod rows;
pub mod schema;
pub mod sync;
