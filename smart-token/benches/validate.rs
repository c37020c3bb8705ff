//! Placeholder replaced by the validation benchmark in a later commit.
fn main() {}
