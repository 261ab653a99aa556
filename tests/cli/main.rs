//! End-to-end tests: the real `gcagg` binary, run as a user would run it.

mod server;
mod util;

mod fetch;
mod flatten;
