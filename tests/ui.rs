//! Compile-fail tests of `#[task]`'s diagnostics.
