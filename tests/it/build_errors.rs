//! Tests: build_errors.
