//! The `hub` binary: parses settings and runs the hub until Ctrl-C or SIGTERM.

fn main() {}
