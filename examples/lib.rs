//! Examples of flowcore, one per concept; see README.md in this folder and run them with
//! `cargo run -p flowcore-examples --example <name>`.
