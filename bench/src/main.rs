//! Load programs that print figures for the hub, each with a baseline measured in the same run.

fn main() {}
