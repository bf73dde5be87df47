//! Tests: retries.
