//! Tests: reference_tasks.
