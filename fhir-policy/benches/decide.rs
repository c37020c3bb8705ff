//! Decision benchmarks beside Cedar (filled in with the benchmark slice).

fn main() {}
