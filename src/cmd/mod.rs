//! One module per subcommand: its flags, its help and its `run`.

pub mod fetch;
pub mod flatten;
pub mod regions;
pub mod schema;
