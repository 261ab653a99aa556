//! One module per subcommand: its flags, its help and its `run`.

pub mod flatten;
pub mod schema;
