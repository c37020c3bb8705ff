//! Benchmarks: filled in with the search and AuditEvent slices.
fn main() {}
