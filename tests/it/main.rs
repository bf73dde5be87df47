//! Integration tests of flowcore through its public API.
