//! Tests: signals.
