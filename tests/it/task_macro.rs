//! Tests: task_macro.
