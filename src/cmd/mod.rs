//! One module per subcommand: its flags, its help and its `run`.

pub mod completions;
pub mod fetch;
pub mod flatten;
pub mod man;
pub mod names;
pub mod regions;
pub mod schema;
pub mod sync;
