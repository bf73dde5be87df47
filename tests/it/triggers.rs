//! Tests: triggers.
